package vessels

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// eventually waits for cond, failing the test after a generous while: the
// listeners work on their own goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) has(mmsi uint32) func() bool {
	return func() bool { _, ok := e.tr.Vessel(mmsi); return ok }
}

func TestUDPListener(t *testing.T) {
	cases := loadCases(t)
	e := newEnv(t, Config{MaxLineBytes: 100}, nil)
	addr, err := e.tr.Listen(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dial := func() net.Conn {
		c, err := net.Dial("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	send := func(c net.Conn, lines ...string) {
		if _, err := c.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
			t.Fatal(err)
		}
	}

	// One datagram, three lines, the middle one too long.
	a := dial()
	send(a, report{mmsi: 412000001, lat: 30, lon: 120, headingDeg: 511}.sentence(false),
		"!AIVDM,1,1,,A,"+strings.Repeat("1", 120)+",0*00",
		report{mmsi: 412000002, lat: 30, lon: 120, headingDeg: 511}.sentence(false))
	eventually(t, "the datagram's vessels", func() bool { return e.has(412000001)() && e.has(412000002)() })
	if n := e.metric(t, "fleet_ais_bad_input_total", "kind", "line_too_long"); n != 1 {
		t.Errorf("long lines = %v, want 1", n)
	}

	// Two stations send fragments with the same sequence id and channel,
	// interleaved: each peer is a source of its own.
	b := dial()
	five, other := cases["gpsd-sample-006"].Sentences, cases["gpsd-sample-067"].Sentences
	send(a, five[0])
	send(b, resequence(other[0], "1", "A"))
	send(a, five[1])
	send(b, resequence(other[1], "1", "A"))
	eventually(t, "both type 5 messages", func() bool { return e.has(351759000)() && e.has(271010059)() })
	if n := e.metric(t, "fleet_ais_lines_total", "transport", "udp"); n != 6 {
		t.Errorf("udp lines = %v, want 6", n)
	}
	if n := e.metric(t, "fleet_ais_bad_input_total", "kind", "orphan"); n != 0 {
		t.Errorf("orphans = %v", n)
	}

	if err := e.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Listen(context.Background(), "udp", "127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
}

func TestTCPListener(t *testing.T) {
	cases := loadCases(t)
	e := newEnv(t, Config{MaxLineBytes: 100, MaxConns: 2}, nil)
	addr, err := e.tr.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	send := func(c net.Conn, s string) {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}

	// Two connections from one host interleave fragments with the same
	// sequence id and channel; a line too long, split over writes, is
	// dropped without losing the line after it.
	a, b := dial(), dial()
	five, other := cases["gpsd-sample-006"].Sentences, cases["gpsd-sample-067"].Sentences
	send(a, five[0]+"\r\n")
	send(b, resequence(other[0], "1", "A")+"\r\n")
	send(a, "!AIVDM,1,1,,A,"+strings.Repeat("1", 80))
	send(a, strings.Repeat("1", 80)+",0*00\r\n")
	send(a, five[1]+"\r\n")
	send(b, resequence(other[1], "1", "A")) // the last line may end with the connection
	eventually(t, "a's type 5", e.has(351759000))
	if n := e.metric(t, "fleet_ais_bad_input_total", "kind", "line_too_long"); n != 1 {
		t.Errorf("long lines = %v, want 1", n)
	}
	if err := b.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's type 5", e.has(271010059))
	eventually(t, "b's connection closed", func() bool { return e.metric(t, "fleet_ais_connections") == 1 })

	// At the cap, a new connection is closed at once.
	c := dial()
	d := dial()
	buf := make([]byte, 1)
	_ = d.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := d.Read(buf); err == nil {
		t.Error("connection over the cap was served")
	}
	if n := e.metric(t, "fleet_ais_connections_refused_total"); n != 1 {
		t.Errorf("refused = %v, want 1", n)
	}
	send(c, report{mmsi: 412000003, lat: 30, lon: 120, headingDeg: 511}.sentence(false)+"\n")
	eventually(t, "c's position", e.has(412000003))

	// Close ends the served connections and waits for them.
	if err := e.tr.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.Read(buf); err == nil {
		t.Error("connection still served after Close")
	}
	if n := e.metric(t, "fleet_ais_connections"); n != 0 {
		t.Errorf("%v connections after Close", n)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	e := newEnv(t, Config{IdleTimeout: 50 * time.Millisecond}, nil)
	addr, err := e.tr.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("silent connection: %v, want EOF", err)
	}
}

func TestListenContextAndErrors(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	if _, err := e.tr.Listen(context.Background(), "unix", "/tmp/x"); err == nil {
		t.Error("unix accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := e.tr.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Listen(context.Background(), "tcp", addr.String()); err == nil {
		t.Error("second listener on a busy port")
	}
	cancel() // the listener stops with its context
	eventually(t, "the port to be free", func() bool {
		ln, err := net.Listen("tcp", addr.String())
		if err == nil {
			_ = ln.Close()
		}
		return err == nil
	})
	if err := e.tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Start(context.Background()); err == nil {
		t.Error("started twice")
	}
	if err := e.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
