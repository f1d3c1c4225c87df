package web

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3.1 description of the v1 API. Keep it true:
// TestOpenAPICoversRoutes checks that every registered /v1 route is in it.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openapiDoc)
}
