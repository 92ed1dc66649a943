// Command offloadbench measures the dock offload (issue 7) against the
// machine's own ceiling: it starts the real dock API in process (SQLite
// store, disk blob store, dock spool) on a loopback listener, uploads a
// generated file through real HTTP as a station does (the spool hashes it
// as it arrives, the disk store adopts the spool file by rename, so the
// bytes are written and hashed once), and compares the
// throughput with `sha256sum FILE` followed by `cp FILE` (with sync) on the
// same file. It also reports the process's peak RSS during the upload,
// which must not grow with the file size.
//
//	go run ./cmd/offloadbench -sizes 256,2048 -runs 3 -dir /tmp/offloadbench
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/ingest/dockspool"
	"github.com/lawfleet/fleet/web"
)

func main() {
	sizes := flag.String("sizes", "256,2048", "file sizes in MiB, comma-separated")
	runs := flag.Int("runs", 3, "repetitions per size; the median is reported")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "offloadbench"), "work directory (files, store, copies)")
	flag.Parse()
	if err := run(context.Background(), *sizes, *runs, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "offloadbench:", err)
		os.Exit(1)
	}
}

type result struct {
	offloadS, shaS, cpS float64
	peakRSSMiB          float64
}

func run(ctx context.Context, sizeList string, runs int, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := start(ctx, dir)
	if err != nil {
		return err
	}
	defer env.close()

	fmt.Printf("load average before: %s\n", loadavg())
	fmt.Printf("%-8s %-4s %12s %12s %12s %14s %8s %10s\n", "size", "run", "offload MB/s", "sha256sum", "cp+sync", "sha256sum+cp", "share", "peak RSS")
	for _, s := range strings.Split(sizeList, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || mib <= 0 {
			return fmt.Errorf("bad size %q", s)
		}
		size := int64(mib) << 20
		var rs []result
		for i := range runs {
			r, err := env.once(ctx, dir, size, i)
			if err != nil {
				return err
			}
			rs = append(rs, r)
			printRow(fmt.Sprintf("%dMiB", mib), strconv.Itoa(i+1), size, r)
		}
		printRow(fmt.Sprintf("%dMiB", mib), "med", size, median(rs))
	}
	fmt.Printf("load average after: %s\n", loadavg())
	return nil
}

func mbps(size int64, s float64) float64 { return float64(size) / 1e6 / s }

func printRow(size, run string, n int64, r result) {
	off, sha, cp := mbps(n, r.offloadS), mbps(n, r.shaS), mbps(n, r.cpS)
	both := mbps(n, r.shaS+r.cpS)
	fmt.Printf("%-8s %-4s %12.0f %12.0f %12.0f %14.0f %7.0f%% %7.0f MiB\n", size, run, off, sha, cp, both, 100*off/both, r.peakRSSMiB)
}

// median takes each figure's median on its own.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		offloadS:   pick(func(r result) float64 { return r.offloadS }),
		shaS:       pick(func(r result) float64 { return r.shaS }),
		cpS:        pick(func(r result) float64 { return r.cpS }),
		peakRSSMiB: pick(func(r result) float64 { return r.peakRSSMiB }),
	}
}

// env is the service under test and a station's credentials.
type env struct {
	db       *sqlstore.DB
	srv      *http.Server
	base     string
	stID     string
	stSecret string
	serial   string
}

func start(ctx context.Context, dir string) (*env, error) {
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlstore.Open(ctx, filepath.Join(dir, "fleet.db"), logger)
	if err != nil {
		return nil, err
	}
	reg := fleet.NewRegister(db, nil)
	const pw = "bench-admin-password"
	if _, err := reg.Bootstrap(ctx, pw); err != nil {
		return nil, err
	}
	blobs, err := disk.New(filepath.Join(dir, "evidence"))
	if err != nil {
		return nil, err
	}
	vault, err := fleet.NewVault(db, blobs, fleet.RetentionPolicy{}, nil, logger)
	if err != nil {
		return nil, err
	}
	spool, err := dockspool.New(filepath.Join(dir, "spool"), 8<<30)
	if err != nil {
		return nil, err
	}
	s := web.New(web.Config{}, web.Deps{Register: reg, Logger: logger, Evidence: web.EvidenceDeps{Vault: vault, Spool: spool}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &env{db: db, srv: &http.Server{Handler: s.Handler()}, base: "http://" + ln.Addr().String() + "/api/v1", serial: "BENCH-001"}
	go e.srv.Serve(ln)

	var login struct{ Token string }
	if err := e.call(ctx, "", http.MethodPost, "/session", map[string]string{"username": "admin", "password": pw}, &login); err != nil {
		return nil, err
	}
	var u fleet.Unit
	if err := e.call(ctx, login.Token, http.MethodPost, "/units", fleet.UnitInput{Code: "BENCH", Name: "基准测试", Level: fleet.LevelProvince}, &u); err != nil {
		return nil, err
	}
	if err := e.call(ctx, login.Token, http.MethodPost, "/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: e.serial, Model: "DSJ", UnitID: u.ID}, nil); err != nil {
		return nil, err
	}
	var st fleet.NewDockStation
	if err := e.call(ctx, login.Token, http.MethodPost, "/dock/stations", fleet.DockStationInput{Name: "bench", UnitID: u.ID}, &st); err != nil {
		return nil, err
	}
	e.stID, e.stSecret = st.ID, st.Secret
	return e, nil
}

func (e *env) close() {
	e.srv.Close()
	e.db.Close()
}

func (e *env) call(ctx context.Context, token, method, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else if strings.HasPrefix(path, "/dock/offloads") {
		req.SetBasicAuth(e.stID, e.stSecret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// generate writes size pseudo-random bytes (incompressible, fast) and
// returns their SHA-256, as the station would have taken it.
func generate(path string, size int64, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7})
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

func (e *env) once(ctx context.Context, dir string, size int64, i int) (r result, err error) {
	file := filepath.Join(dir, "VID_bench.mp4")
	sum, err := generate(file, size, uint64(size)+uint64(i))
	if err != nil {
		return r, err
	}
	defer os.Remove(file)

	var o fleet.Offload
	if err := e.call(ctx, "", http.MethodPost, "/dock/offloads", map[string]string{"serial": e.serial}, &o); err != nil {
		return r, err
	}
	f, err := os.Open(file)
	if err != nil {
		return r, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.base+"/dock/offloads/"+o.ID+"/files/VID_bench.mp4", f)
	if err != nil {
		return r, err
	}
	req.ContentLength = size
	req.SetBasicAuth(e.stID, e.stSecret)
	req.Header.Set(web.HeaderContentSHA256, sum)
	req.Header.Set(web.HeaderRecordedStart, time.Now().Add(-time.Hour).Format(time.RFC3339))
	req.Header.Set("Content-Type", "application/octet-stream")

	stop := watchRSS()
	t0 := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		stop()
		return r, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r.offloadS = time.Since(t0).Seconds()
	r.peakRSSMiB = stop()
	if res.StatusCode != http.StatusCreated {
		return r, fmt.Errorf("upload: %d %s", res.StatusCode, body)
	}

	// The ceiling: the standard tools on the same file, hashing then a
	// durable copy, one after the other.
	if r.shaS, err = timeCmd("sha256sum", file); err != nil {
		return r, err
	}
	dst := filepath.Join(dir, "copy.bin")
	if r.cpS, err = timeCmd("sh", "-c", `cp "$0" "$1" && sync "$1"`, file, dst); err != nil {
		return r, err
	}
	os.Remove(dst)
	// Drop the stored blob so the next run stores its file afresh.
	os.RemoveAll(filepath.Join(dir, "evidence", sum[:2]))
	return r, nil
}

func timeCmd(name string, args ...string) (float64, error) {
	t0 := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return time.Since(t0).Seconds(), nil
}

// watchRSS resets the kernel's peak-RSS mark (VmHWM) and samples VmRSS
// until stopped; it returns the larger of the two peaks in MiB.
func watchRSS() (stop func() float64) {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var peak atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := statusKB("VmRSS"); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return float64(max(peak.Load(), statusKB("VmHWM"))) / 1024
	}
}

func statusKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return errors.Unwrap(err).Error()
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
