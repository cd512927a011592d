package hashlist

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Format is the layout of a hash file, chosen by its extension.
type Format int

// Hash file formats.
const (
	FormatPlain  Format = iota // .md5 .sha1 .sha256: "HEX [name]" per line
	FormatClamAV               // .hdb .hsb (and .hdu .hsu): "HEX:SIZE:NAME[:FLEVEL]"
)

// formats maps extensions to the format and, for plain lists, the one digest
// length the file may contain.
var formats = map[string]struct {
	format Format
	kind   engine.HashKinds // 0: any of MD5/SHA1/SHA256 by length
}{
	".md5":    {FormatPlain, engine.HashMD5},
	".sha1":   {FormatPlain, engine.HashSHA1},
	".sha256": {FormatPlain, engine.HashSHA256},
	".hdb":    {FormatClamAV, 0},
	".hdu":    {FormatClamAV, 0},
	".hsb":    {FormatClamAV, 0},
	".hsu":    {FormatClamAV, 0},
}

func formatOf(name string) (Format, engine.HashKinds, bool) {
	f, ok := formats[strings.ToLower(path.Ext(name))]
	return f.format, f.kind, ok
}

// maxLine bounds one line; a longer one is reported, not loaded.
const maxLine = 64 << 10

// parse adds the entries of one file to db and reports every malformed line.
func (db *DB) parse(file string, data []byte) []engine.Problem {
	format, only, ok := formatOf(file)
	if !ok {
		return []engine.Problem{{File: file, Message: "unknown hash file extension"}}
	}
	var problems []engine.Problem
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		var e entry
		var err error
		if format == FormatPlain {
			e, err = parsePlain(line, only)
		} else {
			e, err = parseClamAV(line)
		}
		if err != nil {
			problems = append(problems, engine.Problem{File: file, Line: lineNo, Message: err.Error()})
			continue
		}
		e.file, e.line = file, lineNo
		db.add(e)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, engine.Problem{File: file, Line: lineNo + 1,
			Message: fmt.Sprintf("%v (lines are limited to %d bytes); the rest of the file was not loaded", err, maxLine)})
	}
	return problems
}

// parsePlain reads "HEX", "HEX  name" or "HEX *name" (sha256sum output).
func parsePlain(line string, only engine.HashKinds) (entry, error) {
	hexPart, name, _ := strings.Cut(line, " ")
	if i := strings.IndexByte(hexPart, '\t'); i >= 0 {
		hexPart, name = line[:i], line[i+1:]
	}
	name = strings.TrimPrefix(strings.TrimSpace(name), "*")
	e, err := parseHex(hexPart)
	if err != nil {
		return e, err
	}
	if e.kind != only {
		return e, fmt.Errorf("a %d-digit hash (%s) in a file of %s digests", len(hexPart), kindName(e.kind), kindName(only))
	}
	e.name = name
	e.size = anySize
	return e, nil
}

// parseClamAV reads ClamAV's "HEX:SIZE:NAME" with an optional minimum
// engine level after the name; SIZE may be "*" (any size).
func parseClamAV(line string) (entry, error) {
	fields := strings.Split(line, ":")
	if len(fields) < 3 || len(fields) > 4 {
		return entry{}, fmt.Errorf("want HASH:SIZE:NAME (ClamAV hash signature), got %d field(s)", len(fields))
	}
	e, err := parseHex(fields[0])
	if err != nil {
		return e, err
	}
	if fields[1] == "*" {
		e.size = anySize
	} else {
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil || n < 0 {
			return e, fmt.Errorf("size %q is not a non-negative number or *", fields[1])
		}
		e.size = n
	}
	e.name = strings.TrimSpace(fields[2])
	if e.name == "" {
		return e, fmt.Errorf("empty malware name")
	}
	if len(fields) == 4 {
		if _, err := strconv.Atoi(fields[3]); err != nil {
			return e, fmt.Errorf("minimum engine level %q is not a number", fields[3])
		}
	}
	return e, nil
}

func parseHex(s string) (entry, error) {
	var e entry
	var kind engine.HashKinds
	switch len(s) {
	case 32:
		kind = engine.HashMD5
	case 40:
		kind = engine.HashSHA1
	case 64:
		kind = engine.HashSHA256
	default:
		return e, fmt.Errorf("hash %q has %d characters; want 32 (MD5), 40 (SHA1) or 64 (SHA256) hex digits", abbreviate(s), len(s))
	}
	if _, err := hex.Decode(e.digest[:], []byte(s)); err != nil {
		return e, fmt.Errorf("hash %q is not hexadecimal", abbreviate(s))
	}
	e.kind = kind
	return e, nil
}

func abbreviate(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

func kindName(k engine.HashKinds) string {
	switch k {
	case engine.HashMD5:
		return "MD5"
	case engine.HashSHA1:
		return "SHA1"
	case engine.HashSHA256:
		return "SHA256"
	}
	return "unknown"
}
