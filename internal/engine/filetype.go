package engine

import (
	"bytes"
	"encoding/binary"
	"path"
	"strings"
	"unicode/utf8"
)

// FileType is the kind of a file as reported in findings (the FileType field of
// the API). It is decided from magic bytes first, then a shebang, then the
// name's extension, then whether the content looks like text.
type FileType string

// File types.
const (
	TypeELF      FileType = "ELF"
	TypePE       FileType = "PE"
	TypeMachO    FileType = "MACHO"
	TypeScript   FileType = "SCRIPT" // shell, Python, Perl … (shebang or extension)
	TypePHP      FileType = "PHP"
	TypeJSP      FileType = "JSP"
	TypeASPX     FileType = "ASPX" // ASP.NET and classic ASP
	TypeArchive  FileType = "ARCHIVE"
	TypeDocument FileType = "DOCUMENT" // PDF, OLE, OOXML
	TypeImage    FileType = "IMAGE"
	TypeJava     FileType = "JAVA_CLASS"
	TypeText     FileType = "TEXT"
	TypeUnknown  FileType = "UNKNOWN"
)

// HeadSize is how many leading bytes DetectFileType looks at; it covers the PE
// header of ordinary executables and the tar magic at offset 257.
const HeadSize = 4096

// IsExecutable reports whether the type is native machine code.
func (t FileType) IsExecutable() bool {
	return t == TypeELF || t == TypePE || t == TypeMachO
}

var scriptExts = map[string]bool{
	".sh": true, ".bash": true, ".zsh": true, ".ksh": true, ".csh": true,
	".py": true, ".pl": true, ".pm": true, ".rb": true, ".lua": true, ".tcl": true,
	".ps1": true, ".psm1": true, ".bat": true, ".cmd": true, ".vbs": true, ".js": true,
}

var webExts = map[string]FileType{
	".php": TypePHP, ".php3": TypePHP, ".php4": TypePHP, ".php5": TypePHP, ".php7": TypePHP,
	".phtml": TypePHP, ".pht": TypePHP, ".phps": TypePHP, ".inc": TypePHP,
	".jsp": TypeJSP, ".jspx": TypeJSP, ".jspf": TypeJSP,
	".aspx": TypeASPX, ".asp": TypeASPX, ".ashx": TypeASPX, ".asmx": TypeASPX, ".ascx": TypeASPX, ".cer": TypeASPX,
}

var documentZipExts = map[string]bool{
	".docx": true, ".xlsx": true, ".pptx": true, ".odt": true, ".ods": true, ".odp": true,
}

// DetectFileType classifies a file from its name and its first bytes (up to
// HeadSize; fewer is fine).
func DetectFileType(name string, head []byte) FileType {
	ext := strings.ToLower(path.Ext(name))
	if t := magicType(head); t != "" {
		if t == TypeArchive && documentZipExts[ext] {
			return TypeDocument
		}
		return t
	}
	if t, ok := webExts[ext]; ok && looksText(head) {
		if t == TypePHP && ext == ".inc" && !bytes.Contains(head, []byte("<?")) {
			return TypeText // .inc is also C/Pascal/NASM include files
		}
		if ext == ".cer" && !bytes.Contains(head, []byte("<%")) {
			return TypeText // .cer is normally a PEM certificate
		}
		return t
	}
	if bytes.HasPrefix(head, []byte("#!")) {
		line := head
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		if bytes.Contains(line, []byte("php")) {
			return TypePHP
		}
		return TypeScript
	}
	if looksText(head) {
		trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
		switch {
		case bytes.HasPrefix(trimmed, []byte("<?php")), bytes.HasPrefix(trimmed, []byte("<?=")):
			return TypePHP
		case hasPrefixFold(trimmed, "<%@ page language=\"c#\""), hasPrefixFold(trimmed, "<%@ page language=\"vb\""):
			return TypeASPX
		case hasPrefixFold(trimmed, "<%@ page ") && bytes.Contains(head, []byte("import=")):
			return TypeJSP
		}
		if scriptExts[ext] {
			return TypeScript
		}
		return TypeText
	}
	return TypeUnknown
}

// magicType recognises binary formats by their signature; "" when none matches.
func magicType(h []byte) FileType {
	switch {
	case bytes.HasPrefix(h, []byte("\x7fELF")):
		return TypeELF
	case isPE(h):
		return TypePE
	case isMachO(h):
		return TypeMachO
	case bytes.HasPrefix(h, []byte("\xca\xfe\xba\xbe")) && len(h) >= 8:
		return TypeJava // fat Mach-O was ruled out above: its arch count is small
	case bytes.HasPrefix(h, []byte("PK\x03\x04")), bytes.HasPrefix(h, []byte("PK\x05\x06")),
		bytes.HasPrefix(h, []byte("\x1f\x8b")),
		bytes.HasPrefix(h, []byte("BZh")) && len(h) > 3 && h[3] >= '1' && h[3] <= '9',
		bytes.HasPrefix(h, []byte("\xfd7zXZ\x00")),
		bytes.HasPrefix(h, []byte("\x28\xb5\x2f\xfd")),
		bytes.HasPrefix(h, []byte("7z\xbc\xaf\x27\x1c")),
		bytes.HasPrefix(h, []byte("Rar!\x1a\x07")),
		bytes.HasPrefix(h, []byte("!<arch>\n")),
		len(h) >= 262 && bytes.Equal(h[257:262], []byte("ustar")):
		return TypeArchive
	case bytes.HasPrefix(h, []byte("%PDF-")),
		bytes.HasPrefix(h, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")),
		bytes.HasPrefix(h, []byte("{\\rtf")):
		return TypeDocument
	case bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")),
		bytes.HasPrefix(h, []byte("\xff\xd8\xff")),
		bytes.HasPrefix(h, []byte("GIF87a")), bytes.HasPrefix(h, []byte("GIF89a")),
		len(h) >= 12 && bytes.HasPrefix(h, []byte("RIFF")) && bytes.Equal(h[8:12], []byte("WEBP")):
		return TypeImage
	}
	return ""
}

// isPE requires the "PE\0\0" signature where the DOS header points, so a text
// file that happens to start with "MZ" is not taken for an executable.
func isPE(h []byte) bool {
	if len(h) < 0x40 || h[0] != 'M' || h[1] != 'Z' {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(h[0x3c:]))
	return off >= 0x40 && off+4 <= int64(len(h)) && bytes.Equal(h[off:off+4], []byte("PE\x00\x00"))
}

func isMachO(h []byte) bool {
	if len(h) < 8 {
		return false
	}
	switch binary.BigEndian.Uint32(h) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return true
	case 0xcafebabe: // fat binary, unless it is a Java class (major version >= 45)
		n := binary.BigEndian.Uint32(h[4:])
		return n > 0 && n < 45
	}
	return false
}

// looksText reports whether b is plausibly text: no NUL byte and valid UTF-8
// (a multi-byte rune cut off at the end of the head is allowed).
func looksText(b []byte) bool {
	if len(b) == 0 || bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			return len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		b = b[size:]
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}
