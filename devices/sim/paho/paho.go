// Package paho connects simulated devices to an MQTT broker with the
// Eclipse Paho client (MQTT 3.1.1): client id = username = device id,
// password = the device's MQTT secret, and the retained will "offline" on
// its state topic, as the contract says a device connects.
//
// It is the simulator's only MQTT adapter; the behaviour lives in
// devices/sim, which this package serves and must not be imported by.
package paho

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/devices/sim"
)

// Dialer dials the broker at URL (tcp://host:port).
type Dialer struct {
	URL            string
	ConnectTimeout time.Duration // default 10 s
	KeepAlive      time.Duration // default 60 s
	AckTimeout     time.Duration // how long a QoS 1 publish may wait (default 5 s)
}

var _ sim.Dialer = (*Dialer)(nil)

// Dial connects device d. Paho's own reconnecting is off: the simulator
// decides when a device comes back.
func (dl *Dialer) Dial(ctx context.Context, d sim.Device) (sim.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout := cmp.Or(dl.ConnectTimeout, 10*time.Second)
	opts := mqtt.NewClientOptions().
		AddBroker(dl.URL).
		SetClientID(d.ID).
		SetUsername(d.ID).
		SetPassword(d.Secret).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(timeout).
		SetKeepAlive(cmp.Or(dl.KeepAlive, 60*time.Second)).
		SetOrderMatters(false). // no handlers: nothing to order
		SetWill(devices.DeviceTopic(d.ID, devices.TopicState), string(devices.StateOffline), 1, true)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, ctx.Err()
	case <-time.After(timeout + time.Second):
		c.Disconnect(0)
		return nil, fmt.Errorf("connect %s as %s: timed out", dl.URL, d.ID)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect %s as %s: %w", dl.URL, d.ID, err)
	}
	return &conn{c: c, ackTimeout: cmp.Or(dl.AckTimeout, 5*time.Second)}, nil
}

type conn struct {
	c          mqtt.Client
	ackTimeout time.Duration
}

// Publish sends a message without waiting for it, except a retained one
// at QoS 1 or 2 (a state change), which waits for the broker's
// acknowledgement so that the disconnect that may follow cannot lose it.
func (c *conn) Publish(topic string, qos byte, retained bool, payload []byte) error {
	if !c.c.IsConnectionOpen() {
		return errors.New("not connected")
	}
	tok := c.c.Publish(topic, qos, retained, payload)
	if qos == 0 || !retained {
		return nil
	}
	if !tok.WaitTimeout(c.ackTimeout) {
		return fmt.Errorf("publish %s: no acknowledgement in %s", topic, c.ackTimeout)
	}
	return tok.Error()
}

func (c *conn) Connected() bool { return c.c.IsConnectionOpen() }

// Close disconnects, giving queued messages a moment to go out.
func (c *conn) Close() { c.c.Disconnect(100) }
