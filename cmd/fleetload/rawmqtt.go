package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/devices"
)

// publisher is one device's MQTT connection.
type publisher interface {
	// publish sends one message. A non-nil token completes later and is
	// the caller's to check; with a nil one the publisher counted the
	// outcome in its sendStats itself.
	publish(topic string, qos byte, payload []byte) (paho.Token, error)
	// reusesPayload reports whether payload is free again once publish
	// returns (else the caller must hand over a fresh slice).
	reusesPayload() bool
	disconnect()
}

type pahoPublisher struct{ c paho.Client }

func (p pahoPublisher) publish(topic string, qos byte, payload []byte) (paho.Token, error) {
	return p.c.Publish(topic, qos, false, payload), nil
}
func (pahoPublisher) reusesPayload() bool { return false }
func (p pahoPublisher) disconnect()       { p.c.Disconnect(100) }

// rawPublisher is a minimal MQTT 3.1.1 client that does what a device
// does here and nothing more: CONNECT with credentials and a will, then
// PUBLISH from the caller's goroutine, one write(2) per message, with a
// reader that counts PUBACKs (QoS 1) and notices a lost connection. Paho
// hands every publish to its own goroutine with a token and a timer,
// which doubles the generator's CPU per message (see BENCHMARKS.md) on a
// machine whose two cores the service and InfluxDB need. The bytes on the
// wire are the same.
type rawPublisher struct {
	conn    net.Conn
	st      *sendStats
	lost    *atomic.Int64
	closing atomic.Bool
	mu      sync.Mutex // one publish at a time (senders own their devices; this is for disconnect)
	buf     []byte
	pid     uint16
	done    chan struct{}
}

const keepaliveSecs = 60 // as devsim's devices; every device publishes far more often

func dialRaw(brokerURL string, d loadDevice, st *sendStats, lost *atomic.Int64) (*rawPublisher, error) {
	u, err := url.Parse(brokerURL)
	if err != nil || u.Scheme != "tcp" {
		return nil, fmt.Errorf("raw client: broker URL %q is not tcp://host:port", brokerURL)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 30*time.Second)
	if err != nil {
		return nil, err
	}
	pkt := appendConnect(nil, d.ID, d.ID, d.Secret,
		devices.DeviceTopic(d.ID, devices.TopicState), string(devices.StateOffline), keepaliveSecs)
	conn.SetDeadline(time.Now().Add(40 * time.Second))
	if _, err := conn.Write(pkt); err != nil {
		conn.Close()
		return nil, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connection refused (CONNACK % x)", ack)
	}
	conn.SetDeadline(time.Time{})
	p := &rawPublisher{conn: conn, st: st, lost: lost, buf: make([]byte, 0, 512), done: make(chan struct{})}
	go p.read()
	return p, nil
}

func (p *rawPublisher) publish(topic string, qos byte, payload []byte) (paho.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if qos > 0 {
		if p.pid++; p.pid == 0 {
			p.pid = 1
		}
	}
	p.buf = appendPublish(p.buf[:0], topic, qos, p.pid, payload)
	if _, err := p.conn.Write(p.buf); err != nil {
		p.st.failed.Add(1)
		return nil, nil
	}
	if qos == 0 {
		p.st.acked.Add(1)
	}
	return nil, nil
}

func (*rawPublisher) reusesPayload() bool { return true }

// read counts PUBACKs until the connection ends.
func (p *rawPublisher) read() {
	defer close(p.done)
	r := bufio.NewReaderSize(p.conn, 256)
	for {
		typ, body, err := readPacket(r)
		if err != nil {
			if !p.closing.Load() {
				p.lost.Add(1)
			}
			return
		}
		if typ == 0x40 && len(body) == 2 { // PUBACK
			p.st.acked.Add(1)
		}
	}
}

func (p *rawPublisher) disconnect() {
	p.closing.Store(true)
	p.mu.Lock()
	_, _ = p.conn.Write([]byte{0xe0, 0}) // DISCONNECT: no will
	p.mu.Unlock()
	if tc, ok := p.conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	p.conn.Close()
	<-p.done
}

// appendRemaining appends MQTT's variable-length remaining length.
func appendRemaining(b []byte, n int) []byte {
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

// appendConnect appends an MQTT 3.1.1 CONNECT: clean session, username
// and password, a retained QoS 1 will.
func appendConnect(b []byte, clientID, user, pass, willTopic, will string, keepalive uint16) []byte {
	n := 10 + 2 + len(clientID) + 2 + len(willTopic) + 2 + len(will) + 2 + len(user) + 2 + len(pass)
	b = append(b, 0x10)
	b = appendRemaining(b, n)
	b = appendString(b, "MQTT")
	// level 4; flags: username, password, will retain, will QoS 1, will, clean session
	b = append(b, 4, 0x80|0x40|0x20|0x08|0x04|0x02, byte(keepalive>>8), byte(keepalive))
	b = appendString(b, clientID)
	b = appendString(b, willTopic)
	b = appendString(b, will)
	b = appendString(b, user)
	return appendString(b, pass)
}

// appendPublish appends a PUBLISH (no retain, no dup).
func appendPublish(b []byte, topic string, qos byte, pid uint16, payload []byte) []byte {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, 0x30|qos<<1)
	b = appendRemaining(b, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = append(b, byte(pid>>8), byte(pid))
	}
	return append(b, payload...)
}

// readPacket reads one packet: its type (high nibble of the first byte)
// and body.
func readPacket(r *bufio.Reader) (typ byte, body []byte, err error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(c&0x7f) * mult
		if c&0x80 == 0 {
			break
		}
		if mult *= 128; i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body = make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h & 0xf0, body, err
}
