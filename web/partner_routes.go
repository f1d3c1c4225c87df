package web

// registerPartnerRoutes registers the partner routes. Owned by the partner feature.
func (s *Server) registerPartnerRoutes() {}
