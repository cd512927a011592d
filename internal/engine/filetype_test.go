package engine

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"
)

func peHeader() []byte {
	h := make([]byte, 256)
	copy(h, "MZ")
	binary.LittleEndian.PutUint32(h[0x3c:], 0x80)
	copy(h[0x80:], "PE\x00\x00")
	return h
}

func TestDetectFileType(t *testing.T) {
	tar := make([]byte, 512)
	copy(tar[257:], "ustar\x0000")
	mzText := append([]byte("MZ is how this text starts"), make([]byte, 100)...)
	for i := range mzText[26:] {
		mzText[26+i] = 'x'
	}
	tests := []struct {
		name string
		head []byte
		want FileType
	}{
		{"a", []byte("\x7fELF\x02\x01\x01"), TypeELF},
		{"a.exe", peHeader(), TypePE},
		{"mz.txt", mzText, TypeText},
		{"a", []byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"), TypeMachO},
		{"fat", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x02"), TypeMachO},
		{"A.class", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34"), TypeJava},
		{"x.zip", []byte("PK\x03\x04rest"), TypeArchive},
		{"x.docx", []byte("PK\x03\x04rest"), TypeDocument},
		{"x.gz", []byte("\x1f\x8b\x08"), TypeArchive},
		{"x.tar", tar, TypeArchive},
		{"x.deb", []byte("!<arch>\ndebian-binary"), TypeArchive},
		{"x.pdf", []byte("%PDF-1.7"), TypeDocument},
		{"x.png", []byte("\x89PNG\r\n\x1a\nIHDR"), TypeImage},
		{"x.jpg", []byte("\xff\xd8\xff\xe0"), TypeImage},
		{"run", []byte("#!/bin/sh\necho hi\n"), TypeScript},
		{"run", []byte("#!/usr/bin/env php\n<?php echo 1;"), TypePHP},
		{"index.php", []byte("<html><?php echo 1; ?>"), TypePHP},
		{"noext", []byte("\xef\xbb\xbf  <?php eval($_POST[1]);"), TypePHP},
		{"shell.jsp", []byte("<%@ page import=\"java.io.*\" %>"), TypeJSP},
		{"noext", []byte("<%@ page import=\"java.io.*\" %>"), TypeJSP},
		{"shell.aspx", []byte("<%@ Page Language=\"C#\" %>"), TypeASPX},
		{"noext", []byte("<%@ Page Language=\"C#\" %>"), TypeASPX},
		{"x.py", []byte("import os\n"), TypeScript},
		{"notes", []byte("plain text, ünïcode\n"), TypeText},
		{"cut", []byte("text then a cut rune \xe4\xb8"), TypeText},
		{"defs.inc", []byte("%define X 1\n"), TypeText},
		{"site.cer", []byte("-----BEGIN CERTIFICATE-----\n"), TypeText},
		{"x.php", []byte("\x00\x01binary"), TypeUnknown},
		{"data.bin", []byte("\x00\x01\x02\x03"), TypeUnknown},
		{"empty", nil, TypeUnknown},
	}
	for _, tt := range tests {
		if got := DetectFileType(tt.name, tt.head); got != tt.want {
			t.Errorf("DetectFileType(%q, %q…) = %s, want %s", tt.name, tt.head[:min(len(tt.head), 12)], got, tt.want)
		}
	}
}

func TestDetectFileTypeOnThisBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, HeadSize)
	n, _ := f.Read(head)
	if got := DetectFileType(exe, head[:n]); got != TypeELF {
		t.Fatalf("test binary detected as %s", got)
	}
}

func TestRiskLevel(t *testing.T) {
	for in, want := range map[string]RiskLevel{
		"RISK_CRITICAL": RiskCritical, "risk_high": RiskHigh, "medium": RiskMedium, "Low": RiskLow, "RISK_NOTICE": RiskNotice, "4": RiskCritical, "0": RiskNotice,
	} {
		got, err := ParseRiskLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseRiskLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SEVERE", "5", "RISK_"} {
		if _, err := ParseRiskLevel(bad); err == nil {
			t.Errorf("ParseRiskLevel(%q) accepted", bad)
		}
	}
	// The registry list's numeric form.
	for r, n := range map[RiskLevel]int{RiskCritical: 4, RiskHigh: 3, RiskMedium: 2, RiskLow: 1, RiskNotice: 0} {
		if r.Number() != n {
			t.Errorf("%s.Number() = %d, want %d", r, r.Number(), n)
		}
	}
	b, err := json.Marshal(struct{ R RiskLevel }{RiskHigh})
	if err != nil || string(b) != `{"R":"RISK_HIGH"}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var back struct{ R RiskLevel }
	if err := json.Unmarshal(b, &back); err != nil || back.R != RiskHigh {
		t.Fatalf("round trip = %v, %v", back.R, err)
	}
}

func TestTextPick(t *testing.T) {
	if got := (Text{ZH: "中", EN: "en"}).Pick(true); got != "en" {
		t.Error(got)
	}
	if got := (Text{ZH: "中", EN: "en"}).Pick(false); got != "中" {
		t.Error(got)
	}
	if got := (Text{EN: "en"}).Pick(false); got != "en" {
		t.Error("Chinese missing: want the English fallback, got", got)
	}
	if got := (Text{ZH: "中"}).Pick(true); got != "中" {
		t.Error("English missing: want the Chinese fallback, got", got)
	}
}
