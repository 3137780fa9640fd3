"""Runs a command and prints the peak of its memory: the proportional set size (PSS) summed over the
process and all its descendants, sampled every 20 ms from /proc (Linux). PSS counts a page shared by k
processes as 1/k in each, so worker processes that share the parent's libraries are not counted twice.
Then the CPU time (user + system) of the command and of every descendant it waited for: on a machine
shared with other jobs, images per CPU-second measure the work per image where wall-clock rates also
measure how much of the machine the run got.

    python3 bench/peak_mem.py -- COMMAND [ARGS...]
"""
import os
import resource
import subprocess
import sys
import threading
import time


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: peak_mem.py -- COMMAND [ARGS...]")
    proc = subprocess.Popen(args)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], sum(pss_kib(p) for p in descendants(proc.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"peak memory (PSS over the process tree): {peak[0] / 1024:.0f} MiB", flush=True)
    print(f"CPU time (user + system, the process tree): {usage.ru_utime + usage.ru_stime:.2f} s", flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
