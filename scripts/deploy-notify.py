#!/usr/bin/env python3
# deploy-notify.py RINGLB notify|caps: checks for scripts/deploy-check.sh.
#   notify: with NOTIFY_SOCKET set, ringlb sends READY=1 once serving,
#           RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM,
#           and exits 0.
#   caps:   run as root with --user nobody, every thread ends with uid
#           65534 and no capability (effective, permitted, ambient), and
#           a client is still served.
import os, signal, socket, subprocess, sys, tempfile, threading, time

ringlb, mode = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="ringlb-deploy-")

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

# an echo backend
be = socket.socket()
be.bind(("127.0.0.1", 0))
be.listen(16)
def serve():
    while True:
        c, _ = be.accept()
        def echo(c=c):
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
            c.close()
        threading.Thread(target=echo, daemon=True).start()
threading.Thread(target=serve, daemon=True).start()

lport = free_port()
cfg = os.path.join(tmp, "ringlb.conf")
with open(cfg, "w") as f:
    f.write("[global]\nthreads = 1\n[listener web]\nbind = 127.0.0.1:%d\n"
            "backend = app\n[backend app]\nserver = a 127.0.0.1:%d\n"
            % (lport, be.getsockname()[1]))

def roundtrip():
    s = socket.create_connection(("127.0.0.1", lport), timeout=5)
    s.sendall(b"ping")
    data = s.recv(16)
    s.close()
    return data == b"ping"

def fail(msg):
    print(msg)
    sys.exit(1)

if mode == "notify":
    nsock_path = os.path.join(tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock_path)
    ns.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=nsock_path)
    p = subprocess.Popen([ringlb, "-c", cfg], env=env,
                         stderr=open(os.path.join(tmp, "log"), "w"))
    def expect(word):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                msg = ns.recv(4096).decode()
            except socket.timeout:
                break
            print("notify:", msg.replace("\n", " "))
            if word in msg.split("\n"):
                return
        p.kill()
        fail("no %s from ringlb" % word)
    expect("READY=1")
    if not roundtrip():
        fail("not serving after READY=1")
    p.send_signal(signal.SIGHUP)
    expect("RELOADING=1")
    expect("READY=1")
    if not roundtrip():
        fail("not serving after reload")
    p.send_signal(signal.SIGTERM)
    expect("STOPPING=1")
    if p.wait(timeout=15) != 0:
        fail("exit status %d" % p.returncode)
    print("READY, RELOADING, READY, STOPPING, exit 0")
elif mode == "caps":
    os.chmod(tmp, 0o755)
    os.chmod(cfg, 0o644)
    p = subprocess.Popen([ringlb, "-c", cfg, "--user", "nobody"],
                         stderr=open(os.path.join(tmp, "log"), "w"))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if roundtrip():
                break
        except OSError:
            time.sleep(0.1)
    else:
        p.kill()
        fail("never served")
    bad = []
    for tid in os.listdir("/proc/%d/task" % p.pid):
        st = {}
        for line in open("/proc/%d/task/%s/status" % (p.pid, tid)):
            k, _, v = line.partition(":")
            st[k] = v.split()
        print("task %s: Uid %s CapEff %s CapPrm %s CapAmb %s" % (
            tid, " ".join(st["Uid"]), st["CapEff"][0], st["CapPrm"][0],
            st["CapAmb"][0]))
        if st["Uid"] != ["65534"] * 4:
            bad.append("task %s uid %s" % (tid, st["Uid"]))
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            if int(st[cap][0], 16):
                bad.append("task %s %s %s" % (tid, cap, st[cap][0]))
    ok = roundtrip()
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=15)
    if bad or not ok:
        fail("; ".join(bad) or "not serving after the checks")
    print("every thread uid 65534, no capabilities, still serving")
else:
    fail("usage: deploy-notify.py RINGLB notify|caps")
