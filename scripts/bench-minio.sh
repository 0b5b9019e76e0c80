#!/usr/bin/env bash
# opa-sts next to the MinIO community server, side by side in one run on
# this machine (test/bench/minio): a 1 KiB GET through MinIO under its own
# IAM, `allow := true`, stock OPA and opa-sts as its policy plugin;
# AssumeRoleWithWebIdentity against MinIO's STS and opa-sts's; opa-sts's
# MinIO identity plugin. Prints the medians as tables and the issue's
# targets next to them (nothing is asserted: the machine's speed varies by
# ~20 % between runs, only figures of one run compare).
#
#   bash scripts/bench-minio.sh [requests] [count] [benchmark regexp]
#
# requests: per sub-benchmark and run (-benchtime <requests>x, default 1500);
# count: runs of every benchmark (-count, default 5); the defaults take
# ~5 minutes on 2 cores. OUT=<file> keeps the raw `go test` output (for
# benchstat), otherwise it goes to a temporary file that is printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTS="${1:-1500}"; COUNT="${2:-5}"; FILTER="${3:-.}"
[[ "$REQUESTS" =~ ^[0-9]+$ && "$REQUESTS" -gt 0 ]] || { echo "requests must be a positive integer" >&2; exit 2; }
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -gt 0 ]] || { echo "count must be a positive integer" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
cd "$ROOT"

make build >/dev/null
bash scripts/build-tools.sh hydra minio opa-stock
export OPA_STS_BIN="$ROOT/bin/opa-sts"

OUT="${OUT:-$(mktemp -t bench-minio.XXXXXX.txt)}"
echo "== load before the run: $(uptime)" >&2
echo "== go test -bench '$FILTER' -benchtime ${REQUESTS}x -count $COUNT ./test/bench/minio (raw output: $OUT)" >&2
go test -run '^$' -bench "$FILTER" -benchtime "${REQUESTS}x" -count "$COUNT" -timeout 60m ./test/bench/minio >"$OUT" 2>&1 || {
  grep -vE '^\s+time=|level=info' "$OUT" | tail -n 60 >&2
  echo "go test failed (raw output: $OUT)" >&2
  exit 1
}
echo "== load after the run: $(uptime)" >&2

python3 - "$OUT" "$REQUESTS" "$COUNT" <<'EOF'
import re, statistics, sys
path, requests, count = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}  # (benchmark, variant, clients) -> {unit: [values]}
for line in open(path, errors="replace"):
    m = re.match(r"^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$", line)
    if not m:
        continue
    parts = m.group(1).split("/")
    fields = m.group(2).split()
    key = (parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "")
    for v, unit in zip(fields[0::2], fields[1::2]):
        runs.setdefault(key, {}).setdefault(unit, []).append(float(v))

def med(bench, variant, clients, unit):
    vals = runs.get((bench, variant, clients), {}).get(unit)
    return statistics.median(vals) if vals else None

def rng(bench, variant, clients, unit):
    vals = runs.get((bench, variant, clients), {}).get(unit)
    return f"{min(vals):,.0f}–{max(vals):,.0f}" if vals else "–"

def f(x, nd=2):
    return "–" if x is None else (f"{x:,.0f}" if nd == 0 else f"{x:.{nd}f}")

def keys(bench):
    seen = []
    for b, v, c in runs:
        if b == bench and (v, c) not in seen:
            seen.append((v, c))
    return seen

print(f"\n{requests} requests per sub-benchmark and run, median of {count} run(s) (min–max for throughput)\n")
G = "MinIOGet1KiB"
if keys(G):
    base = med(G, "minio-iam", "clients=1", "p50-ms")
    print("### 1 KiB GET through MinIO\n")
    print("| variant | clients | req/s | (min–max) | p50 ms | p99 ms | p50 added over minio-iam |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v, c in keys(G):
        p50 = med(G, v, c, "p50-ms")
        added = "" if c != "clients=1" or base is None or p50 is None else f"{p50 - base:+.2f} ms"
        print(f"| {v} | {c.split('=')[1]} | {f(med(G, v, c, 'req/s'), 0)} | {rng(G, v, c, 'req/s')} | {f(p50)} | {f(med(G, v, c, 'p99-ms'))} | {added} |")
I = "Issuance"
if keys(I):
    print("\n### AssumeRoleWithWebIdentity, the same hydra token\n")
    print("| STS | clients | issuances/s | (min–max) | p50 ms | p99 ms | RSS after the run, MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v, c in keys(I):
        print(f"| {v} | {c.split('=')[1]} | {f(med(I, v, c, 'issuances/s'), 0)} | {rng(I, v, c, 'issuances/s')} | {f(med(I, v, c, 'p50-ms'))} | {f(med(I, v, c, 'p99-ms'))} | {f(med(I, v, c, 'rss-MB'), 0)} |")
P = "IdentityPlugin"
if keys(P):
    print("\n### MinIO identity plugin (opa-sts), one client\n")
    print("| variant | p50 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|")
    for v, c in keys(P):
        print(f"| {v} | {f(med(P, v, c, 'p50-ms'), 3)} | {f(med(P, v, c, 'p99-ms'), 3)} | {f(med(P, v, c, 'req/s'), 0)} |")

def verdict(ok):
    return "met" if ok else "NOT met"

print("\n### Targets\n")
if keys(G):
    V = ("minio-iam", "bare-http-allow", "trivial-allow", "stock-opa", "opa-sts")
    p = {v: med(G, v, "clients=1", "p50-ms") for v in V}
    t = {v: med(G, v, "clients=16", "req/s") for v in V}
    if None not in p.values():
        a = {v: p[v] - p["minio-iam"] for v in p}
        r = a["opa-sts"] / a["stock-opa"] if a["stock-opa"] > 0 else float("nan")
        print(f"- GET, p50 added over minio-iam at 1 client: opa-sts {a['opa-sts']:.2f} ms, stock {a['stock-opa']:.2f} ms: "
              f"{r:.2f} of stock's (target ≤ 0.33: {verdict(r <= 1/3)}); floors: `allow := true` on OPA {a['trivial-allow']:.2f} ms "
              f"({a['trivial-allow'] / a['stock-opa']:.2f} of stock's), a bare HTTP handler {a['bare-http-allow']:.2f} ms "
              f"({a['bare-http-allow'] / a['stock-opa']:.2f}); above OPA's floor opa-sts {a['opa-sts'] - a['trivial-allow']:.2f} ms, "
              f"stock {a['stock-opa'] - a['trivial-allow']:.2f} ms")
    pl, tl = med(G, "opa-sts-decision-logs", "clients=1", "p50-ms"), med(G, "opa-sts-decision-logs", "clients=16", "req/s")
    if None not in (pl, tl, p["opa-sts"], t["opa-sts"]):
        print(f"- GET, opa-sts with decision logs on the console: p50 {pl - p['minio-iam']:+.2f} ms over minio-iam at 1 client "
              f"({pl - p['opa-sts']:+.2f} ms for the logs), {tl / t['stock-opa']:.2f}x stock's throughput at 16 clients")
    if None not in t.values():
        r = t["opa-sts"] / t["stock-opa"]
        print(f"- GET throughput at 16 clients: opa-sts {r:.2f}x stock (target ≥ 2x: {verdict(r >= 2)}); "
              f"`allow := true` {t['trivial-allow'] / t['stock-opa']:.2f}x stock, bare HTTP {t['bare-http-allow'] / t['stock-opa']:.2f}x, "
              f"minio-iam {t['minio-iam'] / t['stock-opa']:.2f}x")
if keys(I):
    s16, m16 = med(I, "opa-sts", "clients=16", "issuances/s"), med(I, "minio-sts", "clients=16", "issuances/s")
    s1, m1 = med(I, "opa-sts", "clients=1", "issuances/s"), med(I, "minio-sts", "clients=1", "issuances/s")
    if None not in (s16, m16, s1, m1):
        print(f"- issuance at 16 clients: opa-sts {s16 / m16:.2f}x MinIO (target ≥ 1.5x: {verdict(s16 >= 1.5 * m16)}); "
              f"at 1 client {s1 / m1:.2f}x (target ≥ 1x: {verdict(s1 >= m1)}); RSS after the run: "
              f"opa-sts {f(med(I, 'opa-sts', 'clients=16', 'rss-MB'), 0)} MiB, MinIO {f(med(I, 'minio-sts', 'clients=16', 'rss-MB'), 0)} MiB")
    n16, n1 = med(I, "opa-sts-no-decision-logs", "clients=16", "issuances/s"), med(I, "opa-sts-no-decision-logs", "clients=1", "issuances/s")
    if None not in (n16, n1, m16, m1):
        print(f"- issuance, opa-sts without decision logs: {n16 / m16:.2f}x MinIO at 16 clients, {n1 / m1:.2f}x at 1 client")
if keys(P):
    for v, c in keys(P):
        p50 = med(P, v, c, "p50-ms")
        print(f"- identity plugin p50, {v}: {p50:.3f} ms (target ≤ 1 ms: {verdict(p50 <= 1)})")
EOF
echo "raw output: $OUT" >&2
