# pgcpu.py NODEPID: until NODEPID exits, samples the CPU (utime+stime, s) of the PostgreSQL backends serving its
# TCP connections to 5432 (matched by client port); prints the total and the per-backend figures at exit.
import os, re, subprocess, sys, time
pid = int(sys.argv[1]); tck = os.sysconf("SC_CLK_TCK"); seen = {}
def ports():
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout
    res = set()
    for line in out.splitlines():
        if f"pid={pid}," in line and ":5432" in line.split()[4]:
            res.add(int(line.split()[3].rsplit(":", 1)[1]))
    return res
while os.path.exists(f"/proc/{pid}"):
    ps = ports()
    if ps:
        q = "select pid from pg_stat_activity where client_port in (%s)" % ",".join(map(str, ps))
        bp = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc", q], capture_output=True, text=True).stdout.split()
        for b in bp:
            try:
                f = open(f"/proc/{b}/stat").read().rsplit(")", 1)[1].split()
                seen[b] = (int(f[11]) + int(f[12])) / tck
            except Exception: pass
    time.sleep(0.3)
print("PGCPU %.2f %s" % (sum(seen.values()), " ".join("%s:%.2f" % kv for kv in seen.items())))
