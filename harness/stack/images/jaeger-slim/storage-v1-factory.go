// hsi-chaos: replaces the non-test files of internal/storage/v1/factory in the slim Jaeger
// build. The v2 binary uses this package only for the ArchiveStorage type named by
// cmd/query/app (the v1 query's archive wiring); the v1 factory itself would compile every
// storage client (Cassandra, Elasticsearch, Badger, Kafka, gRPC).

package factory

import "github.com/jaegertracing/jaeger/internal/storage/v1/api/spanstore"

// ArchiveStorage pairs an archive reader and writer.
type ArchiveStorage struct {
	Reader spanstore.Reader
	Writer spanstore.Writer
}
