#!/usr/bin/env bash
# Registry image scanning benchmark (issue 4), side by side in one run:
#
#   vigil:    vigil scan image 127.0.0.1:5000/bench/big:1   (streams every layer, no disk)
#   pipeline: skopeo copy docker://… dir:X + tar -xf every layer + yara -r -N -p 2 -z 64M
#             with the same rules (the built-in pack, concatenated)
#
# plus vigil's rescan with a warm layer cache and the scan of a second image
# sharing all but its top layer. REPS repetitions (default 3), medians.
# Starts docker-registry on 127.0.0.1:5000 unless one answers there, builds a
# ~1.2 GB image (6 layers + a top layer with one planted sample) from
# /usr/lib and /usr/bin with bench/imagescan/mkimage. Run from the repository
# root. Needs: go, docker-registry, skopeo, yara, GNU tar and time, python3.
set -euo pipefail
REPS=${REPS:-3}
OUT=${OUT:-$(mktemp -d /tmp/vigil-imagebench.XXXX)}
mkdir -p "$OUT"
REG=127.0.0.1:5000
IMG=$REG/bench/big
MAX=67108864 # 64 MiB, the engine's default --max-size
for tool in go docker-registry skopeo yara /usr/bin/time python3 tar; do
	command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y docker-registry skopeo yara time)" >&2; exit 2; }
done
echo "output in $OUT" >&2

if ! curl -fsS "http://$REG/v2/" >/dev/null 2>&1; then
	cat >"$OUT/registry.yml" <<EOF2
version: 0.1
storage: {filesystem: {rootdirectory: $OUT/registry-data}, delete: {enabled: true}}
http: {addr: $REG}
log: {level: error}
EOF2
	docker-registry serve "$OUT/registry.yml" >"$OUT/registry.log" 2>&1 &
	REGPID=$!
	trap 'kill $REGPID 2>/dev/null || true' EXIT
	for _ in $(seq 50); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
fi

go build -o "$OUT/vigil" ./cmd/vigil
go build -o "$OUT/mkimage" ./bench/imagescan/mkimage
if ! skopeo inspect --tls-verify=false "docker://$IMG:2" >/dev/null 2>&1; then
	mkdir -p "$OUT/work"
	"$OUT/mkimage" -repo "$IMG" -work "$OUT/work" /usr/lib /usr/bin >"$OUT/image-bytes"
	rm -rf "$OUT/work"
fi
cat internal/engine/rules/pack/*.yar >"$OUT/pack.yar"

# run NAME CMD...: wall s, peak RSS KB, user+sys s, exit code -> results.txt
run() {
	local name=$1; shift
	local code=0
	/usr/bin/time -q -f '%e %M %U %S' -o "$OUT/time.txt" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || code=$?
	read -r wall rss usr sys <"$OUT/time.txt"
	echo "$name $wall $rss $(echo "$usr + $sys" | bc) $code" | tee -a "$OUT/results.txt" >&2
}

pipeline() {
	local x=$OUT/pipe
	rm -rf "$x" && mkdir -p "$x/root"
	skopeo copy -q --src-tls-verify=false "docker://$IMG:1" "dir:$x/img"
	python3 -c 'import json,sys; [print(l["digest"].split(":")[1]) for l in json.load(open(sys.argv[1]))["layers"]]' "$x/img/manifest.json" |
		while read -r d; do tar -xf "$x/img/$d" -C "$x/root"; done
	yara -r -N -p 2 -z $MAX "$OUT/pack.yar" "$x/root"
}
export -f pipeline
export OUT IMG MAX

: >"$OUT/results.txt"
for rep in $(seq "$REPS"); do
	echo "--- repetition $rep" >&2
	run pipeline bash -c pipeline
	rm -rf "$OUT/pipe"
	rm -rf "$OUT/cache"
	run vigil-cold "$OUT/vigil" scan image -q --format json --cache-dir "$OUT/cache" "$IMG:1"
	run vigil-warm "$OUT/vigil" scan image -q --format json --cache-dir "$OUT/cache" "$IMG:1"
	run vigil-image2 "$OUT/vigil" scan image -q --format json --cache-dir "$OUT/cache" "$IMG:2"
	run vigil-nocache "$OUT/vigil" scan image -q --format json --no-cache "$IMG:1"
done
tail -1 "$OUT/vigil-image2.out" >"$OUT/image2-summary.json"

python3 - "$OUT" <<'PY'
import collections, json, statistics, sys
out = sys.argv[1]
rows = collections.defaultdict(list)
for line in open(f"{out}/results.txt"):
    name, wall, rss, cpu, code = line.split()
    rows[name].append((float(wall), int(rss) / 1024, float(cpu), int(code)))
med = {k: [statistics.median(x[i] for x in v) for i in range(3)] + [v[-1][3]] for k, v in rows.items()}
print("| run | wall s (median) | CPU s | peak RSS MB | exit |")
print("|---|---:|---:|---:|---:|")
for k in ["pipeline", "vigil-cold", "vigil-nocache", "vigil-warm", "vigil-image2"]:
    if k in med:
        w, r, c, code = med[k]
        print(f"| {k} | {w:.2f} | {c:.2f} | {r:.0f} | {code} |")
s = json.load(open(f"{out}/image2-summary.json"))
print()
print(f"vigil-cold / pipeline wall: {med['vigil-cold'][0] / med['pipeline'][0]:.2f}x (ratio of medians; target <= 0.5x)")
# The two run back to back in each repetition: their ratio is the pair least
# disturbed by a noisy machine.
paired = [c[0] / p[0] for c, p in zip(rows["vigil-cold"], rows["pipeline"])]
print(f"vigil-cold / pipeline wall, per repetition: {' '.join(f'{r:.2f}' for r in paired)}; median {statistics.median(paired):.2f}x")
print(f"vigil-nocache / pipeline wall: {med['vigil-nocache'][0] / med['pipeline'][0]:.2f}x")
print(f"warm rescan: {med['vigil-warm'][0]:.2f} s (target <= 1 s)")
print(f"peak RSS vigil-cold: {med['vigil-cold'][1]:.0f} MB (target <= 256 MB)")
print(f"image 2: {s['layers'] - s['cached_layers']} of {s['layers']} layers read")
PY
