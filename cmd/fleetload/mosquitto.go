package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// startMosquitto runs Mosquitto on a free loopback port. Devices connect
// to it anonymously: checking their secrets needs an auth plugin
// (mosquitto-go-auth calling fleetd's hook) that Debian does not ship, so
// the broker's authentication cost is not in these figures. Queues are
// raised as INFRA.md advises, so that a lagging QoS 1 subscriber is not
// silently dropped from.
func startMosquitto(bin, dir string) (*loadproc.Child, string, error) {
	port, err := loadproc.FreePort()
	if err != nil {
		return nil, "", err
	}
	conf := fmt.Sprintf(`user root
persistence false
log_dest stderr
listener %d 127.0.0.1
allow_anonymous true
max_connections -1
max_inflight_messages 1000
max_queued_messages 100000
`, port)
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	c, err := loadproc.Start("mosquitto", bin, []string{"-c", path}, filepath.Join(dir, "mosquitto.log"), loadproc.Options{})
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err = c.WaitFor(20*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if err != nil {
		c.Stop(5 * time.Second)
		return nil, "", err
	}
	return c, "tcp://" + addr, nil
}
