package web

// registerUIRoutes registers the ui routes. Owned by the ui feature.
func (s *Server) registerUIRoutes() {}
