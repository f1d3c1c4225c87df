package web

// registerCampaignRoutes registers the campaign routes. Owned by the campaign feature.
func (s *Server) registerCampaignRoutes() {}
