"""Interleaved timing of OCI runtimes; called by bench/runtime.sh inside its private mount namespace."""
import json, os, statistics, subprocess, sys, time, uuid

work, berth = sys.argv[1], sys.argv[2]
N = int(os.environ.get("N", "60"))
WARMUP = int(os.environ.get("WARMUP", "5"))
runtimes = [("berth-runtime", berth), ("crun", "/usr/bin/crun"), ("runc", "/usr/bin/runc")]
if os.environ.get("BASELINE"):
    # BASELINE=/path/to/an/older/berth-runtime: measure it in the same interleaved run (A/B of a change).
    runtimes.append(("berth-baseline", os.environ["BASELINE"]))
if os.environ.get("USERNS") or os.environ.get("NO_CRUN"):
    # crun 1.8 may fail on a cgroup v1/v2 hybrid host ("unknown version specified"); NO_CRUN=1 leaves it out.
    runtimes = [r for r in runtimes if r[0] != "crun"]

bundle = os.path.join(work, "bundle")
os.makedirs(bundle, exist_ok=True)
subprocess.run([berth, "spec", "--bundle", bundle], check=True)
with open(os.path.join(bundle, "config.json")) as f:
    spec = json.load(f)
spec["ociVersion"] = "1.0.2"  # crun 1.8 knows up to 1.0.x
spec["root"] = {"path": os.path.join(work, "rootfs"), "readonly": True}
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
spec["linux"]["resources"]["memory"] = {"limit": 64 << 20}
spec["linux"]["resources"]["pids"] = {"limit": 100}
if os.environ.get("USERNS"):
    # bench/runtime-userns.sh: container root is host uid 100000; the mapped root must reach bundle and rootfs.
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    os.chmod(work, 0o755)
    os.chmod(bundle, 0o755)
with open(os.path.join(bundle, "config.json"), "w") as f:
    json.dump(spec, f)
roots = {name: os.path.join(work, "state-" + name) for name, _ in runtimes}

def timed(argv):
    """Runs argv; returns its wall time in seconds."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {os.waitstatus_to_exitcode(status)}")
    return dt

def peak_rss(argv):
    """Peak RSS (KiB) of the runtime process, measured by GNU time (its fork is small, unlike ours)."""
    out = os.path.join(work, "rss")
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + argv, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return int(f.read().split()[-1])

def bench(label, make_argv):
    samples = {name: [] for name, _ in runtimes}
    rss = {name: 0 for name, _ in runtimes}
    for i in range(WARMUP + N):
        order = runtimes[i % len(runtimes):] + runtimes[:i % len(runtimes)]  # rotate who goes first
        for name, path in order:
            dt = timed(make_argv(name, path))
            if i >= WARMUP:
                samples[name].append(dt * 1000)
    for name, path in runtimes:
        rss[name] = max(peak_rss(make_argv(name, path)) for _ in range(3))
    print(f"\n{label} (N={N}, ms)")
    print(f"{'runtime':<14}{'median':>9}{'p95':>9}{'min':>9}{'peak RSS':>11}")
    med = {}
    for name, _ in runtimes:
        s = sorted(samples[name])
        med[name] = statistics.median(s)
        p95 = s[min(len(s) - 1, int(len(s) * 0.95))]
        print(f"{name:<14}{med[name]:>9.2f}{p95:>9.2f}{s[0]:>9.2f}{rss[name]:>8} KiB")
    print("ratio " + "   ".join(f"berth-runtime/{name} = {med['berth-runtime'] / med[name]:.2f}" for name, _ in runtimes if name != "berth-runtime"))

def run_argv(name, path):
    return [path, "--root", roots[name], "run", "--bundle", bundle, "b" + uuid.uuid4().hex[:10]]

bench("run /bin/true (create+start+wait+delete)", run_argv)

# exec: one long-running container per runtime
long_spec = dict(spec)
long_spec["process"] = dict(spec["process"], args=["/bin/sleep", "100000"])
long_bundle = os.path.join(work, "bundle-long")
os.makedirs(long_bundle, mode=0o755, exist_ok=True)
with open(os.path.join(long_bundle, "config.json"), "w") as f:
    json.dump(long_spec, f)
for name, path in runtimes:
    subprocess.run([path, "--root", roots[name], "run", "--detach", "--bundle", long_bundle, "long-" + name], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    bench("exec /bin/true into a running container", lambda name, path: [path, "--root", roots[name], "exec", "long-" + name, "/bin/true"])
finally:
    for name, path in runtimes:
        subprocess.run([path, "--root", roots[name], "delete", "--force", "long-" + name])
