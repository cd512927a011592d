// Package fswatch is the host agent's real-time file watcher for container
// root filesystems (issue 5, §2 "Detection"): it reports every file written
// (closed after writing) and every file executed inside the watched
// filesystems, with an open descriptor on the file, the path, the writing or
// executing process and the file's stat, so that the engine scans exactly what
// was written even if the path changes afterwards.
//
// Three modes, chosen by New (ModeAuto tries them in this order):
//
//   - ModeFanotify: one fanotify group (FAN_CLASS_NOTIF, bounded kernel queue)
//     with a FAN_MARK_FILESYSTEM mark per watched mount for FAN_CLOSE_WRITE and
//     FAN_OPEN_EXEC. Each container's overlay root filesystem is its own
//     superblock, so one mark covers the container's rootfs in every mount
//     namespace: a write made inside the container (through the container's
//     own copy of the mount) is reported too, with its in-container path.
//     Marking the filesystem that holds the snapshots instead (e.g. the ext4
//     under /var/lib/containerd) also sees overlay writes, but the kernel
//     reports them relative to overlayfs' private per-layer mounts, which
//     cannot be attributed to a container, and it sees every host write on
//     that filesystem: so the watcher marks overlays, not their backing store.
//   - ModeInotify (no CAP_SYS_ADMIN, or fanotify missing): recursive inotify
//     watches (IN_CLOSE_WRITE, IN_MOVED_TO) up to a watch cap. inotify has no
//     exec event and no process: Event.PID is 0 and Kind is never KindExec.
//     Subtrees beyond the watch cap are covered by periodic rescans.
//   - ModePeriodic: no notification at all; every interval each root is walked
//     for files changed (ctime or mtime) since the previous pass.
//
// Load shedding: events go through a bounded coalescing table (the same inode
// closed for writing again within the settle time is scanned once, after it
// settles) and a bounded queue in front of a fixed pool of handler
// goroutines. Nothing blocks the kernel reader: when the table is full, or the
// kernel queue overflows (FAN_Q_OVERFLOW, IN_Q_OVERFLOW), the roots affected
// are marked dirty with the earliest time a lost change can have happened, and
// a catch-up rescan walks them (for an overlay, only its upper directory,
// i.e. only what the container changed) for files changed since then and feeds
// them through the same queue with back-pressure. A flagged file written
// during an overflow is therefore still delivered, as KindRescan. What a
// rescan cannot recover: an exec event of an old file, and a file whose last
// modification precedes the lost event by more than the timestamp slack.
//
// The watcher ignores events caused by its own process (fanotify reports the
// pid) and paths under WithIgnorePaths (the agent's own data directory).
package fswatch
