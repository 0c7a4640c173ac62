"""One row of per-call counts from `perf stat -x,` output (bench/c_stat.sh,
bench/served_stat.sh): the build's name, the calls a second, then each event divided by the
calls (task-clock, in milliseconds, as microseconds a call; `sys_enter_` dropped from system
call names). RESULT is the load generator's JSON line; the calls are its `requests`, or, given
SECONDS (the process's whole life, warm-up included), its rate times SECONDS.

    python3 bench/stat_row.py WHO RESULT STAT_FILE [SECONDS]
"""
import json
import sys


def main() -> None:
    who, result, stat = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    rate = result["rate"]
    calls = rate * float(sys.argv[4]) if len(sys.argv) > 4 else result["requests"]
    row = [who, f"calls/s={rate:.0f}"]
    for line in open(stat):
        p = line.strip().split(",")
        if len(p) > 3 and p[0][:1].isdigit():
            name = p[2].split(":")[-1].replace("sys_enter_", "")
            v = float(p[0]) / calls * (1000 if name == "task-clock" else 1)
            row.append(f"{name}={v:.3f}")
    print(" ".join(row))


if __name__ == "__main__":
    main()
