package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/devices"
)

// deviceConn is one simulated device: its own MQTT connection, as the
// broker wants (client id = username = device id, password = its secret).
type deviceConn struct {
	index  int // in the register's list; picks its sample values
	id     string
	topic  string
	pub    publisher
	marker int // index in the latency tracker, -1 if not a marker
	seq    int64
}

// connStats counts what happened to the device connections.
type connStats struct {
	lost atomic.Int64 // connections the broker or network dropped
}

// connectDevices connects one client per device (paho, or raw: see
// rawPublisher), conc at a time (the embedded broker checks 64 secrets at
// once).
func connectDevices(ctx context.Context, url, client string, devs []loadDevice, conc int, cst *connStats,
	sst *sendStats) ([]*deviceConn, error) {
	conns := make([]*deviceConn, len(devs))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || ctx.Err() != nil {
					return
				}
				var p publisher
				var err error
				if client == "raw" {
					p, err = dialRaw(url, devs[i], sst, &cst.lost)
				} else {
					p, err = dial(url, devs[i], cst)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("device %d (%s): %w", i, devs[i].ID, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = &deviceConn{index: i, id: devs[i].ID, pub: p, marker: -1,
					topic: devices.DeviceTopic(devs[i].ID, devices.TopicTelemetry)}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		disconnectDevices(conns, conc)
		return nil, firstErr
	}
	return conns, nil
}

// dial connects as devsim's devices do: clean session, the retained will
// "offline" on the state topic, no automatic reconnect (a lost
// connection is counted, and fails the run's "nothing lost" check).
func dial(url string, d loadDevice, st *connStats) (publisher, error) {
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(d.ID).
		SetUsername(d.ID).
		SetPassword(d.Secret).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(30*time.Second).
		SetKeepAlive(60*time.Second).
		SetOrderMatters(false).
		SetWill(devices.DeviceTopic(d.ID, devices.TopicState), string(devices.StateOffline), 1, true).
		SetConnectionLostHandler(func(paho.Client, error) { st.lost.Add(1) })
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(40 * time.Second) {
		c.Disconnect(0)
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return pahoPublisher{c}, nil
}

func disconnectDevices(conns []*deviceConn, conc int) {
	ch := make(chan *deviceConn)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for c := range ch {
				c.pub.disconnect()
			}
		})
	}
	for _, c := range conns {
		if c != nil {
			ch <- c
		}
	}
	close(ch)
	wg.Wait()
}

// sendStats is what the senders did.
type sendStats struct {
	sent     atomic.Int64 // Publish called
	acked    atomic.Int64 // written to the socket (QoS 0) or acknowledged (QoS 1)
	failed   atomic.Int64 // the client reported an error
	timedOut atomic.Int64 // no completion within 30 s
	inWindow atomic.Int64 // sent with a due time inside the measured window

	mu  sync.Mutex
	lag *histogram // how late each message was sent, against its due time
}

// sender publishes for a share of the devices, open loop: its messages
// are due at a fixed rate and go to its devices in turn, so each device
// reports every len(conns)/rate seconds.
type sender struct {
	conns   []*deviceConn
	sched   schedule
	end     time.Time // nothing due at or after end is sent
	window  [2]time.Time
	qos     byte
	markers *tracker
	st      *sendStats
}

func (s *sender) run(ctx context.Context) {
	lag := newHistogram(time.Millisecond, 30*time.Second)
	defer func() {
		s.st.mu.Lock()
		s.st.lag.merge(lag)
		s.st.mu.Unlock()
	}()
	// Completion is checked off the sending goroutine, in order.
	toks := make(chan paho.Token, 1<<16)
	var acks sync.WaitGroup
	acks.Go(func() {
		for t := range toks {
			switch {
			case !t.WaitTimeout(30 * time.Second):
				s.st.timedOut.Add(1)
			case t.Error() != nil:
				s.st.failed.Add(1)
			default:
				s.st.acked.Add(1)
			}
		}
	})
	defer func() {
		close(toks)
		acks.Wait()
	}()

	n := int64(len(s.conns))
	buf := make([]byte, 0, 256)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := int64(0); ; {
		now := time.Now()
		for due := s.sched.due(now); k < due; k++ {
			at := s.sched.at(k)
			if !at.Before(s.end) {
				return
			}
			c := s.conns[k%n]
			lag.add(now.Sub(at))
			ts := at.UnixMilli()
			smp := makeSample(c.index, c.seq, ts)
			c.seq++
			payload := smp.appendJSON(buf[:0])
			if !c.pub.reusesPayload() {
				payload = append([]byte(nil), payload...) // paho writes it later
			}
			if c.marker >= 0 {
				s.markers.published(c.marker, ts)
			}
			if !at.Before(s.window[0]) && at.Before(s.window[1]) {
				s.st.inWindow.Add(1)
			}
			s.st.sent.Add(1)
			if tok, _ := c.pub.publish(c.topic, s.qos, payload); tok != nil {
				toks <- tok
			}
		}
		next := s.sched.at(k)
		if !next.Before(s.end) {
			return
		}
		// Sleep at least a millisecond: a few messages per wake-up cost
		// less than a wake-up per message, and a millisecond late is
		// within the lag histogram's resolution.
		timer.Reset(max(time.Until(next), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}
