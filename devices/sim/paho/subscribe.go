package paho

import (
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/devices/sim"
)

var _ sim.Subscriber = (*conn)(nil)

// Subscribe receives the messages of filter (a device's own cmd/ topics:
// the broker refuses anything else). fn runs on paho's goroutine and must
// not block.
func (c *conn) Subscribe(filter string, qos byte, fn func(topic string, payload []byte)) error {
	tok := c.c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) { fn(m.Topic(), m.Payload()) })
	if !tok.WaitTimeout(c.ackTimeout) {
		return fmt.Errorf("subscribe %s: no acknowledgement in %s", filter, c.ackTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return nil
}
