package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/soap/kiosk"
)

// benchKiosks is how many kiosks BenchmarkKioskFlow runs at once: a
// prefecture's evening peak on one node.
const benchKiosks = 64

// BenchmarkKioskFlow is a load run of whole kiosk visits (begin,
// authenticate, request a 住民票 — every other one of the whole household
// where there is one —, confirm, end: five SOAP calls over mutual TLS) by
// 64 kiosks at once against one `issuance serve` process on a real
// database, the load generator on the same machine. Every PDF received is
// checked after the timed part (its sha256 while receiving, then that
// pdftotext finds the requester's name in it), and the day is reconciled
// with the centre's record. It reports visits per second, the 99th
// percentile of a visit's duration, and the node's peak resident memory
// (VmHWM: the node is its own process, so the figure is the server's
// alone). A second, paced run at 60% of that throughput gives the 99th
// percentile a resident sees when the node keeps up.
func BenchmarkKioskFlow(b *testing.B) {
	d := newDeployment(b)
	n := d.node(b, "bench-1")
	kit := d.kit(b, n)
	n.start()
	pg, pgErr := postmasterPID(d.appURL)
	cpu0 := benchCPU(n.cmd.Process.Pid, pg)
	var cpu cpuTimes // of the visits, not of the checks after them
	b.ResetTimer()
	rep, err := kit.Load(context.Background(), kiosk.LoadConfig{
		Visits: b.N, Kiosks: benchKiosks, Types: []string{"JUMINHYO"}, Verify: true, Seed: 1,
		AfterVisit: func(done int) {
			if done == b.N {
				cpu = benchCPU(n.cmd.Process.Pid, pg).minus(cpu0)
			}
		},
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		b.Fatalf("%v: %v %v %v", err, rep.Samples, rep.BadPDFs, rep.Disagree)
	}
	if rep.Verified != rep.PDFs || rep.PDFs != b.N {
		b.Fatalf("%d visits, %d PDFs, %d of them checked", b.N, rep.PDFs, rep.Verified)
	}
	flowPerS := float64(rep.Visits) / rep.Elapsed.Seconds()
	// At 64 kiosks that never pause, a visit waits for the 63 others
	// (Little's law: the mean visit takes kiosks / throughput), so the
	// percentile above measures the queue at saturation. The same kiosks
	// offered 60% of that throughput show what a resident waits at a busy
	// hour the node keeps up with.
	paced, err := kit.Load(context.Background(), kiosk.LoadConfig{
		Visits: (b.N + 1) / 2, Kiosks: benchKiosks, Rate: 0.6 * flowPerS, Types: []string{"JUMINHYO"}, Seed: 2,
	})
	if err == nil {
		err = paced.Err()
	}
	if err != nil {
		b.Fatal(err)
	}
	rss, err := peakRSS(n.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(flowPerS, "BENCH:soap_flow_per_s:per_s")
	b.ReportMetric(float64(rep.Percentile(99).Microseconds())/1000, "BENCH:soap_flow_p99_ms:ms")
	b.ReportMetric(float64(paced.Percentile(99).Microseconds())/1000, "BENCH:soap_flow_p99_ms_at_60pct:ms")
	b.ReportMetric(float64(rss)/(1<<20), "BENCH:soap_rss_mb:MB")
	// Where the machine's CPU went, per visit: what bounds visits/s on it.
	perVisit := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(rep.Visits) }
	b.ReportMetric(perVisit(cpu.node), "BENCH:soap_node_cpu_ms_per_visit:ms")
	b.ReportMetric(perVisit(cpu.client), "BENCH:soap_client_cpu_ms_per_visit:ms")
	if pgErr != nil {
		b.Logf("the database's CPU is not measured: %v", pgErr)
	} else {
		b.ReportMetric(perVisit(cpu.db), "BENCH:soap_db_cpu_ms_per_visit:ms")
	}
}

// cpuTimes is the CPU time used so far by the node, by this process (the
// load generator) and by the database cluster.
type cpuTimes struct{ node, client, db time.Duration }

func (c cpuTimes) minus(o cpuTimes) cpuTimes {
	return cpuTimes{c.node - o.node, c.client - o.client, c.db - o.db}
}

func benchCPU(node, postmaster int) cpuTimes {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	c := cpuTimes{node: procCPU(node, false), client: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if postmaster > 0 {
		// The postmaster, the backends it has reaped, and those alive.
		c.db = procCPU(postmaster, true)
		dirs, _ := os.ReadDir("/proc")
		for _, e := range dirs {
			if pid, err := strconv.Atoi(e.Name()); err == nil && procParent(pid) == postmaster {
				c.db += procCPU(pid, false)
			}
		}
	}
	return c
}

// procStat is the fields of /proc/<pid>/stat after the command name.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

func procParent(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procCPU is a process's user and system time (with its reaped children's
// when asked), from clock ticks of 1/100 s.
func procCPU(pid int, children bool) time.Duration {
	f := procStat(pid)
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for i, field := range f[11:15] { // utime stime cutime cstime
		if i < 2 || children {
			v, _ := strconv.ParseInt(field, 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// postmasterPID is the PID of the PostgreSQL server behind url, read from
// its Unix socket's lock file (the test clusters listen on no TCP port).
func postmasterPID(url string) (int, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(cfg.Host, "/") {
		return 0, fmt.Errorf("the database is reached over TCP (%s), not a local socket", cfg.Host)
	}
	lock, err := os.ReadFile(filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d.lock", cfg.Port)))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(lock), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// peakRSS is a process's peak resident set size in bytes (Linux: VmHWM).
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
