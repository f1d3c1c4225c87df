package web

// registerEventRoutes registers the event routes. Owned by the event feature.
func (s *Server) registerEventRoutes() {}
