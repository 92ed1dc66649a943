// Package mqtt is the ingest consumer for an external MQTT broker
// (Mosquitto, EMQX; -mqtt-url), on paho.mqtt.golang: it subscribes to the
// device topics with shared subscriptions ($share/{group}/…, so that
// several fleetd processes split the load), survives broker restarts
// (reconnect with back-off, subscribe again), and hands every message to a
// Handler (ingest.Pipeline), acknowledging a QoS 1 message only once the
// Handler took it.
//
// It imports the domain (devices), paho and Prometheus; never ingest
// itself. The embedded broker does not need it: ingest/mqttbroker hands
// messages to the same Handler in-process.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// Handler takes device messages (ingest.Pipeline implements it). Handle
// may block to push back; while it does, this consumer reads nothing more
// from the broker and acknowledges nothing, so the broker holds the
// messages. It returns an error when it gives up on m.
type Handler interface {
	Handle(ctx context.Context, m devices.Message) error
}

// Config configures the consumer. Zero values take the defaults.
type Config struct {
	URL      string // broker, e.g. tcp://mqtt.example:1883 (tcp, ssl, ws, wss)
	ClientID string // required and fixed per process: the broker keeps this session (and its QoS 1 queue) across short outages
	Username string
	Password string

	Group   string // shared subscription group; default "ingest"
	NoShare bool   // plain subscriptions instead (one consumer gets everything)
	QoS0    bool   // subscribe at QoS 0: nothing queued, nothing acknowledged (load tests)

	KeepAlive            time.Duration // default 30s
	ConnectTimeout       time.Duration // default 10s
	MaxReconnectInterval time.Duration // back-off cap; default 30s
	SubscribeTimeout     time.Duration // default 10s
	LogEvery             time.Duration // dropped messages are logged at most once per reason per this; default 1m
}

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = "ingest"
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxReconnectInterval <= 0 {
		c.MaxReconnectInterval = 30 * time.Second
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = 10 * time.Second
	}
	if c.LogEvery <= 0 {
		c.LogEvery = time.Minute
	}
	return c
}

// Filters are the subscriptions of cfg: one per device topic kind.
func (c Config) Filters() map[string]byte {
	qos := byte(1)
	if c.QoS0 {
		qos = 0
	}
	f := make(map[string]byte, len(devices.DeviceKinds))
	for _, k := range devices.DeviceKinds {
		filter := devices.SubscriptionFilter(k)
		if !c.NoShare {
			filter = "$share/" + c.Group + "/" + filter
		}
		f[filter] = qos
	}
	return f
}

// Consumer is one connection to the external broker.
type Consumer struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	client  paho.Client

	ctx    context.Context // of Handler calls and subscription retries
	cancel context.CancelFunc

	runOnce, closeOnce sync.Once
	done               chan struct{} // closed by Close

	mu      sync.Mutex // guards stopped and subs.Add against subs.Wait
	stopped bool
	subs    sync.WaitGroup // onConnect calls under way

	m    *metrics
	logs *logthrottle.Throttle
}

// New returns a consumer; Run connects it. reg (may be nil) gets its
// metrics, labelled with the client id so that several consumers can
// share a registry.
func New(cfg Config, h Handler, reg prometheus.Registerer, logger *slog.Logger) (*Consumer, error) {
	if cfg.URL == "" || cfg.ClientID == "" {
		return nil, errors.New("mqtt: broker URL and client id are required")
	}
	if h == nil {
		return nil, errors.New("mqtt: a handler is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker URL: %w", err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
	default:
		// paho would retry an unusable URL for ever, silently.
		return nil, fmt.Errorf("mqtt: broker URL %s: scheme is not tcp, mqtt, ssl, tls, mqtts, ws or wss", u.Redacted())
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Consumer{
		cfg: cfg, handler: h,
		log: logger.With("component", "mqtt.consumer", "client_id", cfg.ClientID),
		ctx: ctx, cancel: cancel,
		done: make(chan struct{}),
		logs: logthrottle.New(cfg.LogEvery),
	}
	if reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"client_id": cfg.ClientID}, reg)
	}
	m, err := newMetrics(reg, c.connected)
	if err != nil {
		cancel()
		return nil, err
	}
	c.m = m

	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(false).
		SetOrderMatters(true). // one goroutine delivers, in order: per-device order holds
		SetAutoAckDisabled(true).
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetDefaultPublishHandler(c.onMessage).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onConnectionLost).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			c.logs.Log(c.log, slog.LevelWarn, "reconnect", time.Now(), "reconnecting to MQTT broker", "url", cfg.URL)
		}).
		SetConnectionAttemptHandler(func(broker *url.URL, tc *tls.Config) *tls.Config {
			c.logs.Log(c.log, slog.LevelInfo, "attempt", time.Now(), "connecting to MQTT broker", "broker", broker.Redacted())
			return tc
		})
	c.client = paho.NewClient(opts)
	return c, nil
}

// Run connects (retrying until the broker answers) and consumes until ctx
// is done or Close is called; then it disconnects. Messages the Handler
// did not take by then are not acknowledged, so the broker delivers them
// again to this client id (or, for a shared subscription, to another
// member).
func (c *Consumer) Run(ctx context.Context) error {
	err := errors.New("mqtt: consumer already ran")
	c.runOnce.Do(func() { err = c.run(ctx) })
	return err
}

func (c *Consumer) run(ctx context.Context) error {
	// With ConnectRetry the token completes once connected, or with an
	// error that retrying cannot fix (a bad URL).
	tok := c.client.Connect()
	c.log.Info("MQTT consumer started", "url", c.cfg.URL, "filters", len(c.cfg.Filters()))
	var err error
	select {
	case <-ctx.Done():
	case <-c.done:
	case <-tok.Done():
		if err = tok.Error(); err != nil {
			err = fmt.Errorf("mqtt: connect to %s: %w", c.cfg.URL, err)
			break
		}
		select {
		case <-ctx.Done():
		case <-c.done:
		}
	}
	c.cancel() // unblock a Handler call and subscription retries
	c.client.Disconnect(250)
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.subs.Wait()
	c.log.Info("MQTT consumer stopped")
	return err
}

// Close stops Run.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}

// Connected reports whether the consumer is connected now (for readiness).
func (c *Consumer) Connected() bool { return c.client.IsConnectionOpen() }

func (c *Consumer) connected() float64 {
	if c.client != nil && c.client.IsConnectionOpen() {
		return 1
	}
	return 0
}

// onConnect runs on every (re)connection, on a goroutine of paho's. A
// broker restarted without persistence has forgotten the subscriptions,
// so they are made again every time (harmless when the session survived).
func (c *Consumer) onConnect(cl paho.Client) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.subs.Add(1)
	c.mu.Unlock()
	defer c.subs.Done()
	c.m.connects.Inc()
	c.log.Info("connected to MQTT broker", "url", c.cfg.URL)
	backoff := time.Second
	for {
		err := c.subscribe(cl)
		if err == nil {
			return
		}
		c.m.subscribeFailures.Inc()
		c.log.Error("MQTT subscribe failed", "error", err, "retry_in", backoff)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		if !cl.IsConnectionOpen() {
			return // the next connection subscribes again
		}
		backoff = min(2*backoff, c.cfg.MaxReconnectInterval)
	}
}

func (c *Consumer) subscribe(cl paho.Client) error {
	filters := c.cfg.Filters()
	tok := cl.SubscribeMultiple(filters, nil) // nil: the default handler, onMessage
	if !tok.WaitTimeout(c.cfg.SubscribeTimeout) {
		return fmt.Errorf("no SUBACK within %s", c.cfg.SubscribeTimeout)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for filter, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("broker refused %s (code %#x)", filter, code)
			}
		}
	}
	return nil
}

func (c *Consumer) onConnectionLost(_ paho.Client, err error) {
	c.m.lost.Inc()
	c.log.Warn("lost MQTT broker connection", "url", c.cfg.URL, "error", err)
}

// onMessage runs on paho's single delivery goroutine.
func (c *Consumer) onMessage(_ paho.Client, msg paho.Message) {
	t, err := devices.ParseTopic(msg.Topic())
	if err != nil || t.Kind == devices.TopicCommand {
		c.m.dropped.WithLabelValues("topic").Inc()
		c.logs.Log(c.log, slog.LevelWarn, "topic", time.Now(), "message on an unexpected topic dropped", "topic", msg.Topic())
		msg.Ack()
		return
	}
	err = c.handler.Handle(c.ctx, devices.Message{
		DeviceID: t.DeviceID, Kind: t.Kind, Payload: msg.Payload(), Received: time.Now(),
	})
	if err != nil {
		// Not acknowledged: the broker redelivers it on the next session.
		c.m.dropped.WithLabelValues("handler").Inc()
		c.logs.Log(c.log, slog.LevelWarn, "handler", time.Now(), "message not taken by the handler", "error", err)
		return
	}
	msg.Ack()
	c.m.messages.Inc()
}
