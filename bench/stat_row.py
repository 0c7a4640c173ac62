"""One row of per-call counts from `perf stat -x,` output (bench/c_stat.sh,
bench/served_stat.sh): the build's name, the calls a second, then each event divided by the
calls (task-clock, in milliseconds, as microseconds a call; `sys_enter_` dropped from system
call names).

    python3 bench/stat_row.py WHO RATE CALLS STAT_FILE [DIGITS]
"""
import sys


def main() -> None:
    who, rate, calls, stat = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    digits = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    row = [who, f"calls/s={rate:.0f}"]
    for line in open(stat):
        p = line.strip().split(",")
        if len(p) > 3 and p[0][:1].isdigit():
            name = p[2].split(":")[-1].replace("sys_enter_", "")
            v = float(p[0]) / calls * (1000 if name == "task-clock" else 1)
            row.append(f"{name}={v:.{digits}f}")
    print(" ".join(row))


if __name__ == "__main__":
    main()
