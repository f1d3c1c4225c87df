package web

// registerMethodologyRoutes registers the methodology routes. Owned by the methodology feature.
func (s *Server) registerMethodologyRoutes() {}
