package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rec makes a recognisable record of about n bytes.
func rec(i, n int) []byte {
	s := fmt.Sprintf("rec-%06d:", i)
	for len(s) < n {
		s += "x"
	}
	return []byte(s)
}

func mustOpen(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// readAll reads until the spool has nothing unread, copying records, and
// returns them with the index to acknowledge.
func readAll(t *testing.T, s *Spool, maxBytes int) (recs []string, next uint64) {
	t.Helper()
	for {
		b, err := s.Read(maxBytes)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(b.Records) == 0 {
			if s.Stats().Unread == 0 {
				return recs, b.Next
			}
			continue // skipped damage; go on
		}
		for _, r := range b.Records {
			recs = append(recs, string(r))
		}
	}
}

func appendN(t *testing.T, s *Spool, from, n, size int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append([][]byte{rec(i, size)}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func wantRecs(from, n, size int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, string(rec(i, size)))
	}
	return out
}

func TestAppendReadAck(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		n, size  int
		perRead  int // maxBytes per Read
		segments bool
	}{
		{"one segment", Options{}, 100, 50, 1 << 20, false},
		{"many segments", Options{SegmentBytes: 1024, MaxBytes: 1 << 20}, 500, 60, 300, true},
		{"record larger than read budget", Options{SegmentBytes: 64 << 10, MaxBytes: 1 << 20}, 20, 5000, 100, true},
		{"fsync every append", Options{SyncEvery: 1}, 30, 100, 1 << 20, false},
		{"no background fsync", Options{SyncInterval: -1}, 30, 100, 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir(), tt.opts)
			defer s.Close()
			appendN(t, s, 0, tt.n, tt.size)
			if tt.segments && s.Stats().Segments < 2 {
				t.Fatalf("want several segments, have %d", s.Stats().Segments)
			}
			got, next := readAll(t, s, tt.perRead)
			if !slices.Equal(got, wantRecs(0, tt.n, tt.size)) {
				t.Fatalf("read %d records, not the %d appended in order", len(got), tt.n)
			}
			if next != uint64(tt.n) {
				t.Fatalf("next = %d, want %d", next, tt.n)
			}
			if err := s.Ack(next); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Unacked != 0 || st.Unread != 0 || st.Segments != 1 {
				t.Fatalf("after ack: %+v", st)
			}
		})
	}
}

func TestAppendBatchIsOneUnit(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer s.Close()
	if err := s.Append([][]byte{[]byte("a"), []byte("b"), []byte("c")}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Read(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 3 || string(b.Records[2]) != "c" || b.Next != 3 {
		t.Fatalf("got %q next %d", b.Records, b.Next)
	}
}

func TestAppendErrors(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{SegmentBytes: 1024, MaxBytes: 1 << 20})
	tests := []struct {
		name string
		recs [][]byte
		want error
	}{
		{"empty record", [][]byte{[]byte("ok"), {}}, ErrEmptyRecord},
		{"larger than a segment", [][]byte{make([]byte, 2000)}, ErrTooLarge},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Append(tt.recs); !errors.Is(err, tt.want) {
				t.Fatalf("Append = %v, want %v", err, tt.want)
			}
		})
	}
	if st := s.Stats(); st.Appended != 0 {
		t.Fatalf("a refused Append wrote records: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if _, err := s.Read(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	s.Close()
	mustOpen(t, dir, Options{}).Close()
}

func TestFullAndReclaim(t *testing.T) {
	const size = 100
	s := mustOpen(t, t.TempDir(), Options{MaxBytes: 8 << 10, SegmentBytes: 2 << 10})
	defer s.Close()
	n := 0
	for ; ; n++ {
		err := s.Append([][]byte{rec(n, size)})
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 1000 {
			t.Fatal("never full")
		}
	}
	st := s.Stats()
	if st.Bytes > 8<<10 || st.Full != 1 {
		t.Fatalf("over the cap or not counted: %+v", st)
	}
	// Still full: refusals write nothing.
	for range 10 {
		if err := s.Append([][]byte{rec(n, size)}); !errors.Is(err, ErrFull) {
			t.Fatalf("Append = %v, want ErrFull", err)
		}
	}
	if got := s.Stats().Bytes; got != st.Bytes {
		t.Fatalf("refused appends changed size %d -> %d", st.Bytes, got)
	}
	// Delivering frees whole segments.
	got, next := readAll(t, s, 1<<20)
	if len(got) != n {
		t.Fatalf("read %d, appended %d", len(got), n)
	}
	if err := s.Ack(next); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([][]byte{rec(n, size)}); err != nil {
		t.Fatalf("Append after ack: %v", err)
	}
	if st := s.Stats(); st.Bytes >= 4<<10 {
		t.Fatalf("acknowledged segments not deleted: %+v", st)
	}
}

func TestReopenReplaysUnacked(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		n, ack int
	}{
		{"nothing acked", Options{}, 50, 0},
		{"part of a segment acked", Options{}, 50, 20},
		{"all acked", Options{}, 50, 50},
		{"acked across segments", Options{SegmentBytes: 1024}, 200, 123},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, tt.opts)
			appendN(t, s, 0, tt.n, 40)
			read := 0
			for read < tt.ack {
				b, err := s.Read(40) // one record at a time
				if err != nil {
					t.Fatal(err)
				}
				read += len(b.Records)
				if err := s.Ack(b.Next); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = mustOpen(t, dir, tt.opts)
			defer s.Close()
			if st := s.Stats(); st.Unacked != uint64(tt.n-tt.ack) {
				t.Fatalf("Unacked = %d, want %d", st.Unacked, tt.n-tt.ack)
			}
			got, _ := readAll(t, s, 1<<20)
			if !slices.Equal(got, wantRecs(tt.ack, tt.n-tt.ack, 40)) {
				t.Fatalf("replayed %d records, want records %d..%d", len(got), tt.ack, tt.n)
			}
			// New records continue the numbering and follow in order.
			appendN(t, s, tt.n, 5, 40)
			got, next := readAll(t, s, 1<<20)
			if !slices.Equal(got, wantRecs(tt.n, 5, 40)) || next != uint64(tt.n+5) {
				t.Fatalf("after reopen: %q next %d", got, next)
			}
		})
	}
}

// lastSegment returns the path of the newest segment in dir.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segments: %v", err)
	}
	slices.Sort(m)
	return m[len(m)-1]
}

func TestTornTailRecovery(t *testing.T) {
	const n, size = 10, 30
	recLen := int64(recHdrLen + size)
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantN   int // records that survive
		wantCut bool
	}{
		{"intact", func(*testing.T, string) {}, n, false},
		{"cut inside last header", func(t *testing.T, p string) { truncateBy(t, p, recLen-3) }, n - 1, true},
		{"cut inside last payload", func(t *testing.T, p string) { truncateBy(t, p, 5) }, n - 1, true},
		{"bit flip in last payload", func(t *testing.T, p string) { flipAt(t, p, -2) }, n - 1, true},
		{"bit flip in last crc", func(t *testing.T, p string) { flipAt(t, p, -recLen+5) }, n - 1, true},
		{"bit flip in a middle record", func(t *testing.T, p string) { flipAt(t, p, headerLen+3*recLen+10) }, 3, true},
		{"garbage appended", func(t *testing.T, p string) { appendBytes(t, p, []byte("\x05\x00\x00\x00garbagegarbage")) }, n, true},
		{"zeros appended (power loss)", func(t *testing.T, p string) { appendBytes(t, p, make([]byte, 4096)) }, n, true},
		{"length beyond end", func(t *testing.T, p string) { appendBytes(t, p, []byte{0xff, 0xff, 0, 0, 1, 2, 3, 4, 'x'}) }, n, true},
		{"torn segment header", func(t *testing.T, p string) { truncateTo(t, p, 3) }, 0, true},
		{"bad segment magic", func(t *testing.T, p string) { flipAt(t, p, 1) }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{})
			appendN(t, s, 0, n, size)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, lastSegment(t, dir))

			s = mustOpen(t, dir, Options{})
			defer s.Close()
			if cut := s.Stats().TruncatedBytes > 0; cut != tt.wantCut {
				t.Fatalf("TruncatedBytes = %d, want cut %v", s.Stats().TruncatedBytes, tt.wantCut)
			}
			got, _ := readAll(t, s, 1<<20)
			if !slices.Equal(got, wantRecs(0, tt.wantN, size)) {
				t.Fatalf("recovered %d records %q, want the first %d", len(got), got, tt.wantN)
			}
			// The spool goes on: new records land after the valid prefix.
			appendN(t, s, 100, 3, size)
			got, next := readAll(t, s, 1<<20)
			if !slices.Equal(got, wantRecs(100, 3, size)) || next != uint64(tt.wantN+3) {
				t.Fatalf("after recovery: %q next %d", got, next)
			}
			s.Close()
			// And what was recovered stays recovered.
			s = mustOpen(t, dir, Options{})
			if st := s.Stats(); st.TruncatedBytes != 0 || st.Unacked != uint64(tt.wantN+3) {
				t.Fatalf("second reopen: %+v", st)
			}
		})
	}
}

func TestCorruptSealedSegmentIsSkipped(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 512}
	s := mustOpen(t, dir, o)
	appendN(t, s, 0, 40, 30)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	slices.Sort(m)
	if len(m) < 3 {
		t.Fatalf("want 3+ segments, have %d", len(m))
	}
	// Damage the second record of the second segment.
	flipAt(t, m[1], headerLen+recHdrLen+30+recHdrLen+4)
	first2, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(m[1]), segSuffix), 10, 64)
	first3, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(m[2]), segSuffix), 10, 64)

	s = mustOpen(t, dir, o)
	defer s.Close()
	got, next := readAll(t, s, 1<<20)
	want := append(wantRecs(0, int(first2)+1, 30), wantRecs(int(first3), 40-int(first3), 30)...)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d records, want %d (segment rest skipped)", len(got), len(want))
	}
	if next != 40 || s.Stats().TruncatedBytes == 0 {
		t.Fatalf("next %d, stats %+v", next, s.Stats())
	}
}

func TestBadAckFileReplaysFromOldest(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	appendN(t, s, 0, 10, 20)
	b, _ := s.Read(1 << 20)
	s.Ack(b.Next - 5)
	s.Close()
	flipAt(t, filepath.Join(dir, ackName), 0)
	s = mustOpen(t, dir, Options{})
	defer s.Close()
	if got, _ := readAll(t, s, 1<<20); len(got) != 10 {
		t.Fatalf("replayed %d, want all 10 (at least once)", len(got))
	}
}

// TestConcurrentAppendRead runs producers against one consumer, as the
// InfluxDB writer does; run it with -race.
func TestConcurrentAppendRead(t *testing.T) {
	const producers, per = 4, 500
	s := mustOpen(t, t.TempDir(), Options{SegmentBytes: 8 << 10, MaxBytes: 1 << 20, SyncInterval: time.Millisecond})
	defer s.Close()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range per {
				r := []byte(fmt.Sprintf("%d:%d", p, i))
				for {
					err := s.Append([][]byte{r})
					if err == nil {
						break
					}
					if !errors.Is(err, ErrFull) {
						t.Errorf("Append: %v", err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	total := 0
	deadline := time.After(20 * time.Second)
	for total < producers*per {
		b, err := s.Read(4096)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) == 0 {
			select {
			case <-s.Notify():
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatalf("read %d of %d", total, producers*per)
			}
			continue
		}
		for _, r := range b.Records {
			var p, i int
			fmt.Sscanf(string(r), "%d:%d", &p, &i)
			if i != last[p]+1 {
				t.Fatalf("producer %d: got %d after %d", p, i, last[p])
			}
			last[p] = i
			total++
		}
		if err := s.Ack(b.Next); err != nil {
			t.Fatal(err)
		}
		_ = s.Stats()
	}
	wg.Wait()
}

// TestCrashReplaysEverythingAppended kills a process that is appending (no
// Close, no fsync beyond the default interval) and checks that every record
// whose Append returned is replayed, in order, and nothing else.
func TestCrashReplaysEverythingAppended(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "SPOOL_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	done := -1
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue
		}
		done = i
		if done >= 3000 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	// The child may have appended a few more after its last line.
	for sc.Scan() {
		if i, err := strconv.Atoi(sc.Text()); err == nil {
			done = i
		}
	}
	cmd.Wait()
	if done < 3000 {
		t.Fatalf("child reported only %d appends", done)
	}

	s := mustOpen(t, dir, Options{SegmentBytes: 64 << 10})
	defer s.Close()
	got, _ := readAll(t, s, 1<<20)
	if len(got) < done+1 {
		t.Fatalf("replayed %d records, child appended %d", len(got), done+1)
	}
	if !slices.Equal(got, wantRecs(0, len(got), 100)) {
		t.Fatal("replayed records out of order or damaged")
	}
}

// TestCrashChild is the body of the child process above.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SPOOL_CRASH_CHILD")
	if dir == "" {
		t.Skip("only runs as the child of TestCrashReplaysEverythingAppended")
	}
	s, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if err := s.Append([][]byte{rec(i, 100)}); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		fmt.Fprintln(w, i)
		if i%50 == 0 {
			w.Flush()
		}
	}
}

func truncateBy(t *testing.T, p string, n int64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	truncateTo(t, p, fi.Size()-n)
}

func truncateTo(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

// flipAt inverts one byte; a negative offset counts from the end.
func flipAt(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, p string, extra []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(extra); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAppend is the cost of one Append: a 200-byte record is about
// one telemetry point, 20 kB a 100-point Write. sync=every fsyncs each
// Append (SyncEvery 1); sync=interval is the default 200 ms timer.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
		opts Options
	}{
		{"record=200B/sync=interval", 200, Options{}},
		{"record=20kB/sync=interval", 20_000, Options{}},
		{"record=20kB/sync=every", 20_000, Options{SyncEvery: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.opts.MaxBytes = 1 << 40
			s, err := Open(b.TempDir(), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := [][]byte{make([]byte, bc.size)}
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
