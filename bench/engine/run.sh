#!/usr/bin/env bash
# Engine benchmark (issue 3, section 4): `vigil scan path` against the YARA CLI
# and clamscan on the machine's own /usr/bin and /usr/lib/x86_64-linux-gnu,
# side by side in one run, REPS repetitions, medians and ratios.
#
#   bench/engine/run.sh            # from the repository root; needs root for
#                                  # dropping the page cache (else warm only)
#   REPS=3 MODES="warm" bench/engine/run.sh
#
# Needs: go, yara (Debian "yara"), clamscan (Debian "clamav"), GNU time.
# Writes everything under $OUT (default bench/out/engine) and prints a
# Markdown report (also saved as $OUT/report.md).
#
# What is compared:
#   - YARA: vigil with its built-in pack (plus its always-on heuristics, and
#     MD5+SHA256 of every finding) vs `yara -r -N -p 2 -z 64M` with the same
#     pack files, and `yara -f` (fast mode, which vigil uses).
#   - hash lists: vigil with only a generated ClamAV hash database
#     (--no-builtin --rules DIR) vs `clamscan -r` with the same .hdb/.hsb.
#   - second pass: vigil with --cache over the unchanged tree.
#   - memory: peak RSS of each run (GNU time %M).
set -euo pipefail

REPS=${REPS:-5}
MODES=${MODES:-"cold warm"}
OUT=${OUT:-bench/out/engine}
WORKERS=2
MAX=$((64 << 20))
CORPUS=(/usr/bin /usr/lib/x86_64-linux-gnu)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for tool in go yara clamscan /usr/bin/time python3; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y yara clamav time)" >&2; exit 2; }
done

echo "== building vigil" >&2
go build -o "$OUT/vigil" ./cmd/vigil
PACK=internal/engine/rules/pack
cat "$PACK"/*.yar >"$OUT/pack.yar"
printf '%s\n' "${CORPUS[@]}" >"$OUT/corpus.list"

echo "== building the hash database" >&2
# 2000 MD5 (.hdb) and 1000 SHA256 (.hsb) entries. Their sizes are real sizes
# of corpus files, so both tools must hash those files; the digests are
# random except for a handful of real corpus files, which both tools must
# report (a check that they loaded the same database).
mkdir -p "$OUT/hashdb"
python3 - "$OUT/hashdb" "${CORPUS[@]}" <<'EOF'
import hashlib, os, random, stat, sys
out, roots = sys.argv[1], sys.argv[2:]
files = []
for root in roots:
    for dirpath, dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= 64 << 20:
                files.append((p, st.st_size))
rnd = random.Random(3)
rnd.shuffle(files)
real = files[:6]
with open(os.path.join(out, "bench.hdb"), "w") as hdb, open(os.path.join(out, "bench.hsb"), "w") as hsb:
    for i, (p, size) in enumerate(files[6:2006]):
        hdb.write("%032x:%d:Bench.Fake.Md5-%d\n" % (rnd.getrandbits(128), size, i))
    for i, (p, size) in enumerate(files[2006:3006]):
        hsb.write("%064x:%d:Bench.Fake.Sha256-%d:73\n" % (rnd.getrandbits(256), size, i))
    for i, (p, size) in enumerate(real):
        data = open(p, "rb").read()
        if i % 2 == 0:
            hdb.write("%s:%d:Bench.Real.Md5-%d\n" % (hashlib.md5(data).hexdigest(), size, i))
        else:
            hsb.write("%s:%d:Bench.Real.Sha256-%d:73\n" % (hashlib.sha256(data).hexdigest(), size, i))
print("corpus files: %d, distinct sizes in the database: %d" % (len(files), len({s for _, s in files[:3006]})), file=sys.stderr)
EOF

can_drop=0
if [ "$(id -u)" = 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then can_drop=1; fi
if [ $can_drop = 0 ]; then MODES=warm; echo "cannot drop the page cache: warm runs only" >&2; fi

# run NAME MODE CMD...: one timed run; appends "name mode wall rss_kb user sys exit findings" to results.
run() {
	local name=$1 mode=$2; shift 2
	if [ "$mode" = cold ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
	local code=0
	/usr/bin/time -q -f '%e %M %U %S' -o "$OUT/time.txt" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || code=$?
	local findings
	case $name in
	vigil-*) findings=$(grep -c '"type":"finding"' "$OUT/$name.out" || true) ;;
	yara*) findings=$(grep -c . "$OUT/$name.out" || true) ;;
	clamscan) findings=$(grep -c 'FOUND$' "$OUT/$name.out" || true) ;;
	esac
	echo "$name $mode $(cat "$OUT/time.txt") $code $findings" >>"$OUT/results.txt"
	echo "  $name $mode: $(cut -d' ' -f1 "$OUT/time.txt")s, exit $code, findings $findings" >&2
}

vigil_yara=("$OUT/vigil" scan path -q --format json --workers $WORKERS --max-size $MAX "${CORPUS[@]}")
vigil_hash=("$OUT/vigil" scan path -q --format json --workers $WORKERS --max-size $MAX --no-builtin --rules "$OUT/hashdb" "${CORPUS[@]}")
yara_cli=(yara -r -N -p $WORKERS -z $MAX --scan-list "$OUT/pack.yar" "$OUT/corpus.list")
yara_fast=(yara -f -r -N -p $WORKERS -z $MAX --scan-list "$OUT/pack.yar" "$OUT/corpus.list")
clam=(clamscan -r --infected --no-summary --follow-dir-symlinks=0 --follow-file-symlinks=0
	--max-filesize=$MAX --max-scansize=$MAX -d "$OUT/hashdb/bench.hdb" -d "$OUT/hashdb/bench.hsb" "${CORPUS[@]}")

: >"$OUT/results.txt"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load.txt"
for mode in $MODES; do
	if [ "$mode" = warm ]; then # one untimed pass of everything reads the corpus into memory
		"${yara_cli[@]}" >/dev/null 2>&1 || true
	fi
	for rep in $(seq "$REPS"); do
		echo "== $mode pass, repetition $rep/$REPS" >&2
		run vigil-yara "$mode" "${vigil_yara[@]}"
		run yara "$mode" "${yara_cli[@]}"
		run yara-fast "$mode" "${yara_fast[@]}"
		run vigil-hash "$mode" "${vigil_hash[@]}"
		run clamscan "$mode" "${clam[@]}"
		# Second pass: the first run fills the persistent cache (timed as a
		# first pass), the second finds every file unchanged.
		rm -f "$OUT/scan.cache"
		run vigil-cache-fill "$mode" "${vigil_yara[@]}" --cache "$OUT/scan.cache"
		run vigil-cache-hit "$mode" "${vigil_yara[@]}" --cache "$OUT/scan.cache"
	done
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"

# Cost of each pack file on its own (warm, yara CLI), against a rule that
# matches nothing: which family of rules slows scanning down.
echo "== per rule file" >&2
printf 'rule Nothing { condition: false }\n' >"$OUT/empty.yar"
: >"$OUT/perfile.txt"
for rep in 1 2 3; do
	for f in "$OUT/empty.yar" "$PACK"/*.yar; do
		/usr/bin/time -q -f '%e' -o "$OUT/time.txt" yara -r -N -p $WORKERS -z $MAX --scan-list "$f" "$OUT/corpus.list" >/dev/null 2>&1 || true
		echo "$(basename "$f") $(cat "$OUT/time.txt")" >>"$OUT/perfile.txt"
	done
done

python3 - "$OUT/results.txt" "$REPS" "$OUT/perfile.txt" "$OUT/load.txt" <<'EOF' | tee "$OUT/report.md"
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, mode, wall, rss, user, sys_, code, findings = line.split()
    rows[(name, mode)].append((float(wall), int(rss) / 1024, float(user) + float(sys_), int(code), int(findings)))
def med(name, mode, i):
    v = [r[i] for r in rows.get((name, mode), [])]
    return statistics.median(v) if v else float("nan")
print("| run | page cache | wall s (median) | CPU s | peak RSS MB | findings | exit |")
print("|---|---|---:|---:|---:|---:|---:|")
for (name, mode), rs in sorted(rows.items(), key=lambda k: (k[0][1], k[0][0])):
    print("| %s | %s | %.2f | %.2f | %.0f | %d | %s |" % (name, mode, med(name, mode, 0), med(name, mode, 2),
          max(r[1] for r in rs), rs[0][4], ",".join(sorted({str(r[3]) for r in rs}))))
print()
print("| ratio (medians) | value | target |")
print("|---|---:|---|")
for mode in ("cold", "warm"):
    if (("vigil-yara", mode)) not in rows:
        continue
    print("| %s: vigil / yara -p 2 | %.2f× | ≤ 1.0× |" % (mode, med("vigil-yara", mode, 0) / med("yara", mode, 0)))
    print("| %s: vigil / yara -f -p 2 | %.2f× | (fast mode, as vigil) |" % (mode, med("vigil-yara", mode, 0) / med("yara-fast", mode, 0)))
    print("| %s: clamscan / vigil (hash db) | %.1f× faster | ≥ 4× |" % (mode, med("clamscan", mode, 0) / med("vigil-hash", mode, 0)))
    print("| %s first pass / cached second pass | %.0f× faster | ≥ 20× |" % (mode, med("vigil-cache-fill", mode, 0) / med("vigil-cache-hit", mode, 0)))
    print("| %s: vigil / yara -p 2, CPU time | %.2f× | (less sensitive to machine load) |" % (mode, med("vigil-yara", mode, 2) / med("yara", mode, 2)))
print("| peak RSS, vigil with the built-in pack | %.0f MB | ≤ 200 MB |" % max(r[1] for k, rs in rows.items() if k[0].startswith("vigil-yara") for r in rs))
print()
per = collections.defaultdict(list)
for line in open(sys.argv[3]):
    name, wall = line.split()
    per[name].append(float(wall))
base = statistics.median(per.pop("empty.yar"))
print("| pack file (yara CLI alone, warm) | wall s (median of 3) | over a no-op rule |")
print("|---|---:|---:|")
print("| (no-op rule) | %.2f | |" % base)
for name, ws in sorted(per.items(), key=lambda kv: -statistics.median(kv[1])):
    print("| %s | %.2f | %+.2f s |" % (name, statistics.median(ws), statistics.median(ws) - base))
print()
print(" / ".join(l.strip() for l in open(sys.argv[4])))
EOF
