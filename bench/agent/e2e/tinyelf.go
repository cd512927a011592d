package main

import (
	"encoding/binary"
	"time"
)

// Minimal static x86-64 ELF executables, assembled by hand, for the burst
// generator. /bin/true is dynamically linked: ld.so and libc start-up cost
// ~2 ms per exec on the benchmark VM, which caps a generator at a few hundred
// execs/s. A program of one PT_LOAD segment that issues raw syscalls and no
// libc costs only the kernel's fork/exec/exit, so a few generator processes
// reach thousands per second.
//
// Layout: ELF header (64 bytes), one program header (56 bytes) mapping the
// whole file read+execute at elfBase, then the code and its data.
const (
	elfBase   = 0x400000
	elfHdrLen = 64
	phdrLen   = 56
	codeOff   = elfHdrLen + phdrLen
)

// exitELF returns a program that exits at once with status.
func exitELF(status uint8) []byte {
	return tinyELF(exitCode(status))
}

// sleepELF returns a program that sleeps for d (nanosleep, not restarted
// after a signal with a handler, which it has none of) and then exits with
// status.
func sleepELF(d time.Duration, status uint8) []byte {
	code := []byte{
		0xb8, 35, 0, 0, 0, // mov eax, SYS_nanosleep
		0x48, 0x8d, 0x3d, 0, 0, 0, 0, // lea rdi, [rip+disp32] → timespec
		0x31, 0xf6, // xor esi, esi (rem = NULL)
		0x0f, 0x05, // syscall
	}
	code = append(code, exitCode(status)...)
	// The timespec follows the code; disp32 counts from the end of the lea.
	binary.LittleEndian.PutUint32(code[8:], uint32(len(code)-12))
	code = binary.LittleEndian.AppendUint64(code, uint64(d/time.Second))
	code = binary.LittleEndian.AppendUint64(code, uint64(d%time.Second))
	return tinyELF(code)
}

func exitCode(status uint8) []byte {
	return []byte{
		0xb8, 60, 0, 0, 0, // mov eax, SYS_exit
		0xbf, status, 0, 0, 0, // mov edi, status
		0x0f, 0x05, // syscall
	}
}

// tinyELF wraps code (entered at its first byte) in an ELF executable.
func tinyELF(code []byte) []byte {
	size := uint64(codeOff + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	// ELF header.
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV ABI */)
	b = append(b, make([]byte, 8)...)       // ABI version, padding
	b = le.AppendUint16(b, 2)               // e_type: ET_EXEC
	b = le.AppendUint16(b, 62)              // e_machine: EM_X86_64
	b = le.AppendUint32(b, 1)               // e_version
	b = le.AppendUint64(b, elfBase+codeOff) // e_entry
	b = le.AppendUint64(b, elfHdrLen)       // e_phoff
	b = le.AppendUint64(b, 0)               // e_shoff: no sections
	b = le.AppendUint32(b, 0)               // e_flags
	b = le.AppendUint16(b, elfHdrLen)       // e_ehsize
	b = le.AppendUint16(b, phdrLen)         // e_phentsize
	b = le.AppendUint16(b, 1)               // e_phnum
	b = le.AppendUint16(b, 0)               // e_shentsize
	b = le.AppendUint16(b, 0)               // e_shnum
	b = le.AppendUint16(b, 0)               // e_shstrndx
	// Program header: the whole file, read+execute.
	b = le.AppendUint32(b, 1)       // p_type: PT_LOAD
	b = le.AppendUint32(b, 5)       // p_flags: PF_R|PF_X
	b = le.AppendUint64(b, 0)       // p_offset
	b = le.AppendUint64(b, elfBase) // p_vaddr
	b = le.AppendUint64(b, elfBase) // p_paddr
	b = le.AppendUint64(b, size)    // p_filesz
	b = le.AppendUint64(b, size)    // p_memsz
	b = le.AppendUint64(b, 0x1000)  // p_align
	return append(b, code...)
}
