package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The raw client's packets read back as paho's decoder understands them.
func TestRawPackets(t *testing.T) {
	cp, err := packets.ReadPacket(bytes.NewReader(appendConnect(nil, "dev_1", "dev_1", "s3cret",
		"fleet/v1/dev_1/state", "offline", 60)))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cp.(*packets.ConnectPacket)
	if !ok || c.ClientIdentifier != "dev_1" || c.Username != "dev_1" || string(c.Password) != "s3cret" ||
		!c.WillFlag || !c.WillRetain || c.WillQos != 1 || c.WillTopic != "fleet/v1/dev_1/state" ||
		string(c.WillMessage) != "offline" || !c.CleanSession || c.Keepalive != 60 || c.ProtocolVersion != 4 {
		t.Fatalf("CONNECT read back as %v", cp)
	}
	if code := c.Validate(); code != packets.Accepted {
		t.Errorf("CONNECT invalid: %d", code)
	}

	for _, tc := range []struct {
		qos  byte
		size int // payload bytes: 200 needs a two-byte remaining length
	}{{0, 10}, {1, 200}, {1, 20000}} {
		payload := []byte(strings.Repeat("x", tc.size))
		pp, err := packets.ReadPacket(bytes.NewReader(appendPublish(nil, "fleet/v1/dev_1/telemetry", tc.qos, 7, payload)))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := pp.(*packets.PublishPacket)
		if !ok || p.TopicName != "fleet/v1/dev_1/telemetry" || p.Qos != tc.qos || !bytes.Equal(p.Payload, payload) ||
			(tc.qos > 0 && p.MessageID != 7) {
			t.Errorf("PUBLISH qos %d size %d read back as %v", tc.qos, tc.size, pp)
		}
	}

	// A PUBACK as a broker sends it.
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = 7
	var b bytes.Buffer
	ack.Write(&b)
	typ, body, err := readPacket(bufio.NewReader(&b))
	if err != nil || typ != 0x40 || !bytes.Equal(body, []byte{0, 7}) {
		t.Errorf("PUBACK: %x %x %v", typ, body, err)
	}
}
