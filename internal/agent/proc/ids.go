package proc

import (
	"bytes"
	"os"
	"path"
	"strconv"
	"sync"
	"time"
)

// idRecheck is how often the passwd and group files are stat'ed for changes:
// a user added a second ago may show as a number until then.
const idRecheck = 2 * time.Second

// idDB maps uids and gids to names by parsing passwd and group (no cgo, no
// NSS: directory services are not consulted, which is what an agent reading
// every process wants — no network lookups on the hot path).
type idDB struct {
	dir string

	mu      sync.Mutex
	checked time.Time
	stamp   [2]fileStamp
	users   map[int]string
	groups  map[int]string
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

func newIDDB(dir string) *idDB { return &idDB{dir: dir} }

func stampOf(p string) fileStamp {
	fi, err := os.Stat(p)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// names returns the user and group names of uid and gid; an id with no name
// is given as its number.
func (d *idDB) names(uid, gid int) (string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := time.Now(); d.users == nil || now.Sub(d.checked) >= idRecheck {
		d.checked = now
		pw, gr := path.Join(d.dir, "passwd"), path.Join(d.dir, "group")
		st := [2]fileStamp{stampOf(pw), stampOf(gr)}
		if d.users == nil || st != d.stamp {
			d.stamp = st
			d.users = parseIDFile(pw)
			d.groups = parseIDFile(gr)
		}
	}
	u, ok := d.users[uid]
	if !ok {
		u = strconv.Itoa(uid)
	}
	g, ok := d.groups[gid]
	if !ok {
		g = strconv.Itoa(gid)
	}
	return u, g
}

// parseIDFile parses passwd or group: "name:x:id:…"; the first name of an id
// wins, as getpwuid does.
func parseIDFile(p string) map[int]string {
	m := map[int]string{}
	data, err := os.ReadFile(p)
	if err != nil {
		return m
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.SplitN(line, []byte{':'}, 4)
		if len(f) < 3 {
			continue
		}
		id, err := strconv.Atoi(string(f[2]))
		if err != nil {
			continue
		}
		if _, dup := m[id]; !dup {
			m[id] = string(f[0])
		}
	}
	return m
}
