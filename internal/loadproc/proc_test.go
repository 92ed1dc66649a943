package loadproc

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// pid (comm) state ppid … utime stime: a name with spaces and ")".
	line := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 100 1000 200\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3*time.Second {
		t.Errorf("cpu %v, %v", got, err)
	}
}

// TestSampleSelf reads this test process's own /proc entries after
// burning some CPU and holding some memory.
func TestSampleSelf(t *testing.T) {
	buf := make([]byte, 32<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	st, err := Sample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU < 100*time.Millisecond {
		t.Errorf("cpu %v after a 200 ms busy loop", st.CPU)
	}
	if st.RSSKB < 32<<10 || st.HWMKB < st.RSSKB {
		t.Errorf("rss %d KB, hwm %d KB with 32 MB touched", st.RSSKB, st.HWMKB)
	}
	if st.Wait < 0 {
		t.Errorf("wait %v", st.Wait)
	}
	if buf[len(buf)-1] != byte(len(buf)-1) {
		t.Fatal("buffer lost")
	}
	busy, total, err := MachineCPU()
	if err != nil || busy <= 0 || total < busy {
		t.Errorf("machine busy %v total %v: %v", busy, total, err)
	}
	if Loadavg() == "?" {
		t.Error("no load average")
	}
}

func TestSampleGone(t *testing.T) {
	c, err := Start("true", "/bin/true", nil, t.TempDir()+"/true.log", Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if _, err := Sample(c.PID()); err == nil {
		t.Errorf("sample of exited pid %d succeeded", c.PID())
	}
}
