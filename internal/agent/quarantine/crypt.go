package quarantine

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sample file format (version 1):
//
//	header  = "VGQS" | version(1) | reserved(3) | chunkSize(uint32 BE) | salt(32)   (44 bytes)
//	chunk_i = AES-256-GCM(key_s, nonce_i, plaintext_i, aad = header | sampleID)
//
// key_s is derived per sample with HKDF-SHA256(master key, salt), so nonces
// only need to be unique within one sample: nonce_i = i (uint64 BE) | 0 0 0 |
// final flag. The final flag makes truncation at a chunk boundary detectable,
// the counter makes reordering detectable, and binding the header and the
// sample ID as additional data stops a header edit or a swap of two samples.
// Every chunk holds chunkSize plaintext bytes except the last (possibly
// empty); memory use is two chunk buffers whatever the file size.
const (
	sampleMagic   = "VGQS"
	sampleVersion = 1
	headerLen     = 4 + 1 + 3 + 4 + 32
	tagLen        = 16
	maxChunkSize  = 16 << 20
	hkdfInfo      = "vigil quarantine sample v1"
)

// ErrCorrupt means a sample failed authentication or its content does not
// match its recorded hash: it was altered, truncated or belongs elsewhere.
var ErrCorrupt = errors.New("quarantine: sample is corrupt or was tampered with")

func sampleAEAD(master, salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, master, salt, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(dst []byte, i uint64, final bool) []byte {
	dst = dst[:12]
	binary.BigEndian.PutUint64(dst, i)
	dst[8], dst[9], dst[10], dst[11] = 0, 0, 0, 0
	if final {
		dst[11] = 1
	}
	return dst
}

// encrypt reads r to EOF and writes the encrypted sample to w. check is
// called between chunks (context cancellation, size limit); its error aborts.
func encrypt(w io.Writer, r io.Reader, master []byte, id string, chunkSize int, check func(n int64) error) error {
	hdr := make([]byte, headerLen)
	copy(hdr, sampleMagic)
	hdr[4] = sampleVersion
	binary.BigEndian.PutUint32(hdr[8:12], uint32(chunkSize))
	if _, err := rand.Read(hdr[12:]); err != nil {
		return err
	}
	aead, err := sampleAEAD(master, hdr[12:])
	if err != nil {
		return err
	}
	aad := append(append([]byte{}, hdr...), id...)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	br := bufio.NewReaderSize(r, chunkSize)
	plain := make([]byte, chunkSize)
	out := make([]byte, 0, chunkSize+tagLen)
	nonce := make([]byte, 12)
	var total int64
	for i := uint64(0); ; i++ {
		n, err := io.ReadFull(br, plain)
		final := false
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			final = true
		case err != nil:
			return err
		default:
			// A full chunk is the last one when nothing follows it.
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				final = true
			} else if perr != nil {
				return perr
			}
		}
		total += int64(n)
		if err := check(total); err != nil {
			return err
		}
		out = aead.Seal(out[:0], chunkNonce(nonce, i, final), plain[:n], aad)
		if _, err := w.Write(out); err != nil {
			return err
		}
		if final {
			return nil
		}
	}
}

// decrypt authenticates and decrypts a sample from r into w. Nothing written
// to w may be trusted until decrypt returns nil.
func decrypt(w io.Writer, r io.Reader, master []byte, id string, check func(n int64) error) error {
	br := bufio.NewReader(r)
	hdr := make([]byte, headerLen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("%w: short header", ErrCorrupt)
	}
	if string(hdr[:4]) != sampleMagic || hdr[4] != sampleVersion {
		return fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	chunkSize := int(binary.BigEndian.Uint32(hdr[8:12]))
	if chunkSize <= 0 || chunkSize > maxChunkSize {
		return fmt.Errorf("%w: bad chunk size", ErrCorrupt)
	}
	aead, err := sampleAEAD(master, hdr[12:])
	if err != nil {
		return err
	}
	aad := append(append([]byte{}, hdr...), id...)
	buf := make([]byte, chunkSize+tagLen)
	plain := make([]byte, 0, chunkSize)
	nonce := make([]byte, 12)
	var total int64
	for i := uint64(0); ; i++ {
		n, err := io.ReadFull(br, buf)
		final := false
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		case errors.Is(err, io.ErrUnexpectedEOF):
			final = true
		case err != nil:
			return err
		default:
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				final = true
			} else if perr != nil {
				return perr
			}
		}
		plain, err = aead.Open(plain[:0], chunkNonce(nonce, i, final), buf[:n], aad)
		if err != nil {
			return fmt.Errorf("%w: chunk %d fails authentication", ErrCorrupt, i)
		}
		total += int64(len(plain))
		if err := check(total); err != nil {
			return err
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
		if final {
			return nil
		}
	}
}
