// hsi-chaos: replaces cmd/jaeger/internal/extension/jaegerstorage/extension.go through
// `go build -overlay`, keeping the package's exported API for the other Jaeger components
// while creating memory trace stores only (see jaegerstorage-config.go).

package jaegerstorage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/jaegertracing/jaeger/internal/metrics"
	"github.com/jaegertracing/jaeger/internal/storage/v1"
	"github.com/jaegertracing/jaeger/internal/storage/v2/api/tracestore"
	"github.com/jaegertracing/jaeger/internal/storage/v2/memory"
	"github.com/jaegertracing/jaeger/internal/telemetry"
)

var _ Extension = (*storageExt)(nil)

// Extension gives other components the storage factories by name.
type Extension interface {
	extension.Extension
	TraceStorageFactory(name string) (tracestore.Factory, bool)
	MetricStorageFactory(name string) (storage.MetricStoreFactory, bool)
}

type storageExt struct {
	config    *Config
	telset    component.TelemetrySettings
	factories map[string]tracestore.Factory
}

func newStorageExt(cfg *Config, telset component.TelemetrySettings) *storageExt {
	return &storageExt{config: cfg, telset: telset, factories: make(map[string]tracestore.Factory)}
}

func (s *storageExt) Start(_ context.Context, host component.Host) error {
	telset := telemetry.FromOtelComponent(s.telset, host)
	base := telset.Metrics.Namespace(metrics.NSOptions{Name: "jaeger"})
	for name, backend := range s.config.TraceBackends {
		if backend.Memory == nil {
			return fmt.Errorf("storage '%s': only the memory backend is built in", name)
		}
		scoped := telset
		scoped.Metrics = base.Namespace(metrics.NSOptions{
			Name: "storage",
			Tags: map[string]string{"name": name, "kind": "memory", "role": "tracestore"},
		})
		factory, err := memory.NewFactory(*backend.Memory, scoped)
		if err != nil {
			return fmt.Errorf("storage %q: the memory backend did not start: %w", name, err)
		}
		s.factories[name] = factory
	}
	return nil
}

func (s *storageExt) Shutdown(context.Context) error {
	var errs []error
	for _, factory := range s.factories {
		if closer, ok := factory.(io.Closer); ok {
			errs = append(errs, closer.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *storageExt) TraceStorageFactory(name string) (tracestore.Factory, bool) {
	f, ok := s.factories[name]
	return f, ok
}

func (*storageExt) MetricStorageFactory(string) (storage.MetricStoreFactory, bool) {
	return nil, false
}

func findExtension(host component.Host) (Extension, error) {
	for id, comp := range host.GetExtensions() {
		if id.Type() != componentType {
			continue
		}
		ext, ok := comp.(Extension)
		if !ok {
			return nil, fmt.Errorf("extension %v is registered as %v but does not serve storage factories", id, componentType)
		}
		return ext, nil
	}
	return nil, fmt.Errorf("no %v extension in this collector: list it under service.extensions", componentType)
}

// GetTraceStoreFactory finds the extension in the host and the named trace storage in it.
func GetTraceStoreFactory(name string, host component.Host) (tracestore.Factory, error) {
	ext, err := findExtension(host)
	if err != nil {
		return nil, err
	}
	f, ok := ext.TraceStorageFactory(name)
	if !ok {
		return nil, fmt.Errorf("storage %q is not among the %v backends", name, componentType)
	}
	return f, nil
}

// GetMetricStorageFactory always fails: no metric storage is built in.
func GetMetricStorageFactory(name string, host component.Host) (storage.MetricStoreFactory, error) {
	if _, err := findExtension(host); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("metric storage %q: this slim %v has no metric backends", name, componentType)
}

// GetSamplingStoreFactory returns the named storage when it can hold sampling data.
func GetSamplingStoreFactory(name string, host component.Host) (storage.SamplingStoreFactory, error) {
	f, err := GetTraceStoreFactory(name, host)
	if err != nil {
		return nil, err
	}
	ssf, ok := f.(storage.SamplingStoreFactory)
	if !ok {
		return nil, fmt.Errorf("storage %q cannot hold sampling data", name)
	}
	return ssf, nil
}

// GetPurger returns the named storage when it can be purged.
func GetPurger(name string, host component.Host) (storage.Purger, error) {
	f, err := GetTraceStoreFactory(name, host)
	if err != nil {
		return nil, err
	}
	purger, ok := f.(storage.Purger)
	if !ok {
		return nil, fmt.Errorf("storage %q cannot be purged", name)
	}
	return purger, nil
}
