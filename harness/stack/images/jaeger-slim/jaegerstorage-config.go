// hsi-chaos: replaces cmd/jaeger/internal/extension/jaegerstorage/config.go through
// `go build -overlay`: the slim distribution offers the memory trace backend only, so the
// Cassandra, Elasticsearch, OpenSearch, Badger, ClickHouse, gRPC and Prometheus clients are not
// compiled. A configuration naming another backend fails validation with a message saying so.

package jaegerstorage

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/jaegertracing/jaeger/internal/storage/v1/memory"
)

var (
	_ xconfmap.Validator  = (*Config)(nil)
	_ confmap.Unmarshaler = (*TraceBackend)(nil)
)

// Config maps storage names to their backend.
type Config struct {
	TraceBackends  map[string]TraceBackend  `mapstructure:"backends"`
	MetricBackends map[string]MetricBackend `mapstructure:"metric_backends"`
}

// TraceBackend holds the one backend this distribution supports.
type TraceBackend struct {
	Memory *memory.Configuration `mapstructure:"memory"`
}

// MetricBackend is accepted for configuration compatibility; no metric backend is built in.
type MetricBackend struct{}

// Unmarshal gives the memory backend its default trace limit before the user's values apply.
func (cfg *TraceBackend) Unmarshal(conf *confmap.Conf) error {
	if conf.IsSet("memory") {
		cfg.Memory = &memory.Configuration{MaxTraces: 1_000_000}
	}
	return conf.Unmarshal(cfg)
}

func (cfg *Config) Validate() error {
	if len(cfg.TraceBackends) == 0 {
		return errors.New("at least one storage is required")
	}
	for name, backend := range cfg.TraceBackends {
		if backend.Memory == nil {
			return fmt.Errorf("storage '%s': this slim Jaeger build supports only the memory backend", name)
		}
	}
	if len(cfg.MetricBackends) > 0 {
		return errors.New("metric_backends: this slim Jaeger build has no metric storage")
	}
	return nil
}
