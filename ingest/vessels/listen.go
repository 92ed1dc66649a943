package vessels

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 64 << 10

// Listen serves the NMEA feed of shore stations on network ("udp", "udp4",
// "udp6", "tcp", "tcp4", "tcp6") at addr until ctx is done or Close, and
// returns the address it is bound to (addr may ask for port 0). Lines are
// one NMEA sentence each, ended by LF or CR LF; each UDP peer and each TCP
// connection is a source of its own. Lines over MaxLineBytes are dropped,
// TCP connections beyond MaxConns are closed at once, and a TCP connection
// silent for IdleTimeout is closed. Listeners are off unless cmd calls
// Listen.
func (t *Tracker) Listen(ctx context.Context, network, addr string) (net.Addr, error) {
	var lc net.ListenConfig
	switch network {
	case "udp", "udp4", "udp6":
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("vessels: listen %s %s: %w", network, addr, err)
		}
		if err := t.goroutine(ctx, func(ctx context.Context) { t.serveUDP(ctx, pc) }); err != nil {
			_ = pc.Close()
			return nil, err
		}
		return pc.LocalAddr(), nil
	case "tcp", "tcp4", "tcp6":
		ln, err := lc.Listen(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("vessels: listen %s %s: %w", network, addr, err)
		}
		if err := t.goroutine(ctx, func(ctx context.Context) { t.serveTCP(ctx, ln) }); err != nil {
			_ = ln.Close()
			return nil, err
		}
		return ln.Addr(), nil
	}
	return nil, fmt.Errorf("vessels: listen: network %q is neither udp nor tcp", network)
}

func (t *Tracker) serveUDP(ctx context.Context, pc net.PacketConn) {
	stop := context.AfterFunc(ctx, func() { _ = pc.Close() })
	defer stop()
	defer pc.Close()
	log := t.log.With("network", "udp", "addr", pc.LocalAddr().String())
	log.Info("listening for NMEA")
	defer log.Info("NMEA listener stopped")

	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || netErrClosed(err) {
				return
			}
			t.logs.Log(log, slog.LevelWarn, "udp/read", t.now(), "NMEA read failed", "error", err)
			if !pause(ctx) {
				return
			}
			continue
		}
		t.feedLines(ctx, sourceKey{transport: transportUDP, id: from.String()}, buf[:n])
	}
}

func (t *Tracker) serveTCP(ctx context.Context, ln net.Listener) {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	log := t.log.With("network", "tcp", "addr", ln.Addr().String())
	log.Info("listening for NMEA")
	defer log.Info("NMEA listener stopped")

	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || netErrClosed(err) {
				return
			}
			t.logs.Log(log, slog.LevelWarn, "tcp/accept", t.now(), "NMEA accept failed", "error", err)
			if !pause(ctx) {
				return
			}
			continue
		}
		select {
		case t.conns <- struct{}{}:
		default:
			t.m.connsRefused.Inc()
			t.logs.Log(log, slog.LevelWarn, "tcp/full", t.now(), "NMEA connection refused: too many open",
				"peer", conn.RemoteAddr().String(), "max", t.cfg.MaxConns)
			_ = conn.Close()
			continue
		}
		conns.Go(func() {
			defer func() { <-t.conns }()
			t.serveConn(ctx, conn)
		})
	}
}

// serveConn reads one TCP connection's lines until it ends, is silent for
// IdleTimeout or ctx is done.
func (t *Tracker) serveConn(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()

	t.mu.Lock()
	t.connSeq++
	seq := t.connSeq
	t.mu.Unlock()
	// The sequence number keeps a reconnecting peer's new connection from
	// meeting the fragments of its old one.
	key := sourceKey{transport: transportTCP, id: conn.RemoteAddr().String() + "#" + strconv.FormatUint(seq, 10)}
	defer func() {
		if src := t.srcs.drop(key); src != nil {
			if n := src.pending.Load(); n > 0 {
				t.m.bad[kindSourceEvicted].Add(float64(n))
			}
		}
	}()

	br := bufio.NewReaderSize(conn, t.cfg.MaxLineBytes)
	discarding := false // in the middle of a line over MaxLineBytes
	for {
		// Deadlines are wall-clock time, whatever the tracker's clock.
		_ = conn.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !discarding {
				t.m.bad[kindLineTooLong].Inc()
				discarding = true
			}
			continue
		}
		if discarding {
			discarding = false // line is the end of the long one
		} else if len(bytes.TrimSpace(line)) > 0 {
			t.feed(ctx, key, line)
		}
		if err != nil {
			return // EOF, idle deadline, or closed
		}
	}
}

// feedLines hands data to the source's decoder, without the lines over
// MaxLineBytes.
func (t *Tracker) feedLines(ctx context.Context, key sourceKey, data []byte) {
	start := 0 // first byte of the lines not handed on yet
	for i := 0; i < len(data); {
		end := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			end = i + j
		}
		if len(bytes.TrimRight(data[i:end], "\r")) > t.cfg.MaxLineBytes {
			if i > start {
				t.feed(ctx, key, data[start:i])
			}
			t.m.bad[kindLineTooLong].Inc()
			start = end + 1
		}
		i = end + 1
	}
	if start < len(data) {
		t.feed(ctx, key, data[start:])
	}
}

// feed handles lines of a shore station; only a writer failure is an
// error, and it is logged here, at the edge.
func (t *Tracker) feed(ctx context.Context, key sourceKey, lines []byte) {
	if err := t.handle(ctx, key, "", string(lines), t.now()); err != nil {
		t.logs.Log(t.log, slog.LevelError, "write", t.now(), "vessel positions dropped",
			"transport", key.transport.String(), "error", err)
	}
}

// pause waits a moment after a failed read or accept, so that a
// persistent failure does not spin; it is false when ctx ended.
func pause(ctx context.Context) bool {
	tm := time.NewTimer(50 * time.Millisecond)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
