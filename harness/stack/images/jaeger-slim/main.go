// hsi-chaos: replaces cmd/jaeger/main.go through `go build -overlay`; the upstream main also
// registers the `docs` and Elasticsearch `mappings` commands, which pull in storage clients the
// slim distribution leaves out.

package main

import (
	"log"

	"github.com/jaegertracing/jaeger/cmd/jaeger/internal"
	"github.com/jaegertracing/jaeger/internal/version"
)

func main() {
	command := internal.Command()
	command.AddCommand(version.Command())
	if err := command.Execute(); err != nil {
		log.Fatal(err)
	}
}
