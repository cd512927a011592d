package proc

import (
	"encoding/binary"
	"os"
	"unsafe"
)

// atClkTck is AT_CLKTCK of the ELF auxiliary vector: sysconf(_SC_CLK_TCK)
// reads it from there, and x/sys has no sysconf.
const atClkTck = 17

// defaultClockTicks is USER_HZ on every Linux architecture Go supports; used
// when the auxiliary vector cannot be read.
const defaultClockTicks = 100

// clockTicks returns the clock ticks per second of /proc/PID/stat times.
func clockTicks() int64 {
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTicks
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	for i := 0; i+2*word <= len(data); i += 2 * word {
		var key, val uint64
		if word == 8 {
			key = binary.NativeEndian.Uint64(data[i:])
			val = binary.NativeEndian.Uint64(data[i+word:])
		} else {
			key = uint64(binary.NativeEndian.Uint32(data[i:]))
			val = uint64(binary.NativeEndian.Uint32(data[i+word:]))
		}
		if key == atClkTck && val > 0 {
			return int64(val)
		}
		if key == 0 {
			break
		}
	}
	return defaultClockTicks
}
