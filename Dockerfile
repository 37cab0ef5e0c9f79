# The single byoda image: the operator (`byoda manager`), a person's pod
# (`byoda pod`) and every other subcommand of the one binary.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/byoda-go/byoda:dev .
#
# Sources are copied directory by directory (as kubebuilder's scaffold does),
# so that bin/ and its test tools never enter the build context's layers.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY config/samples/contracts/ config/samples/contracts/
COPY controllers/ controllers/
COPY directory/ directory/
COPY internal/ internal/
COPY podruntime/ podruntime/
ARG VERSION=devel
ARG COMMIT=unknown
RUN go build -trimpath \
    -ldflags "-s -w -X github.com/byoda-go/byoda/internal/version.Version=${VERSION} -X github.com/byoda-go/byoda/internal/version.Commit=${COMMIT}" \
    -o /out/byoda .

# Static, no shell, non-root (uid 65532, the user the operator runs pods as).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/byoda /usr/local/bin/byoda
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/byoda"]
