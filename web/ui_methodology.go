package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
)

// registerMethodologyPages registers the public registry pages and the
// console's review workflow.
func (s *Server) registerMethodologyPages() {
	s.mux.HandleFunc("GET /registry", s.uiHandler(s.pageRegistry))
	s.mux.HandleFunc("GET /registry/{id}/{version}", s.uiHandler(s.pageRegistryVersion))
	s.mux.HandleFunc("GET /console/methodologies", s.consolePage(false, s.pageConsoleMethodologies))
	s.mux.HandleFunc("GET /console/methodologies/{id}/{version}", s.consolePage(false, s.pageConsoleMethodology))
	s.mux.HandleFunc("POST /console/methodologies/{id}/{version}/{action}", s.consolePage(false, s.pageConsoleMethodologyAction))
	s.mux.HandleFunc("GET /console/factors", s.consolePage(false, s.pageConsoleFactors))
}

// reviewerByToken authenticates a reviewer token with the registry.
func (s *Server) reviewerByToken(r *http.Request, tok string) (string, bool) {
	if s.Methodologies == nil || tok == "" {
		return "", false
	}
	rv, err := s.Methodologies.Authenticate(r.Context(), tok)
	if err != nil {
		return "", false
	}
	return rv.ID, true
}

// versionRow is a registry row with its title in the page language.
type versionRow struct {
	methodology.Version
	TitleText string
}

type registryView struct {
	uiPage
	Versions []versionRow
	Quorum   int
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, rq *uiReq, status string) ([]versionRow, bool) {
	if s.Methodologies == nil {
		v := &pendingView{uiPage: uiPage{TitleKey: "registry.title", Console: strings.HasPrefix(r.URL.Path, "/console")}, WhatKey: "registry.pending"}
		if v.Console {
			v.Nav = "methodologies"
		}
		s.render(w, r, rq, http.StatusOK, "pending", v)
		return nil, false
	}
	list, err := s.Methodologies.List(r.Context(), status)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return nil, false
	}
	out := make([]versionRow, len(list))
	for i, v := range list {
		out[i] = versionRow{Version: v, TitleText: v.Title.Get(rq.lang)}
	}
	return out, true
}

func (s *Server) pageRegistry(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	rows, ok := s.listVersions(w, r, rq, "")
	if !ok {
		return
	}
	// The public registry lists what is or was in force, not drafts.
	rows = slices.DeleteFunc(rows, func(v versionRow) bool { return v.Status == methodology.StatusDraft })
	s.render(w, r, rq, http.StatusOK, "registry", &registryView{uiPage: uiPage{TitleKey: "registry.title"}, Versions: rows, Quorum: s.Methodologies.Quorum()})
}

// paramRow is a parameter with the factor it is bound to, if any.
type paramRow struct {
	methodology.Parameter
	Factor *methodology.Factor
}

// versionView is one methodology version: the public page and the
// console review page share it.
type versionView struct {
	uiPage
	V         *methodology.Version
	Doc       methodology.Document
	TitleText string
	Summary   string
	Params    []paramRow
	Approvals int
	Rejected  bool
	Quorum    int
	Vectors   []methodology.VectorResult
	VectorErr string
	Diff      []diffLine
	DiffFrom  string
	Reviewer  bool // the viewer may record a review
	Admin     bool
}

// loadVersion reads id@version and its document and binds factors.
func (s *Server) loadVersion(w http.ResponseWriter, r *http.Request, rq *uiReq) (*versionView, bool) {
	if s.Methodologies == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	}
	v, err := s.Methodologies.Get(r.Context(), r.PathValue("id"), r.PathValue("version"))
	if err != nil {
		s.uiFail(w, r, rq, err)
		return nil, false
	}
	vv := &versionView{V: v, Quorum: s.Methodologies.Quorum(), TitleText: v.Title.Get(rq.lang)}
	if err := json.Unmarshal(v.Document, &vv.Doc); err != nil {
		s.uiFail(w, r, rq, err)
		return nil, false
	}
	vv.Summary = vv.Doc.Summary.Get(rq.lang)
	factors, err := s.Methodologies.Factors(r.Context())
	if err != nil {
		s.uiFail(w, r, rq, err)
		return nil, false
	}
	byRef := map[string]*methodology.Factor{}
	for i := range factors {
		byRef[factors[i].Ref()] = &factors[i]
	}
	for _, p := range vv.Doc.Parameters {
		vv.Params = append(vv.Params, paramRow{Parameter: p, Factor: byRef[p.Factor]})
	}
	approvers := map[string]bool{}
	for _, rv := range v.Reviews {
		if rv.Hash != v.Hash {
			continue
		}
		if rv.Decision == "approve" {
			approvers[rv.Reviewer] = true
		} else {
			vv.Rejected = true
		}
	}
	vv.Approvals = len(approvers)
	return vv, true
}

func (s *Server) pageRegistryVersion(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	vv, ok := s.loadVersion(w, r, rq)
	if !ok {
		return
	}
	if vv.V.Status == methodology.StatusDraft {
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return
	}
	vv.TitleKey = "registry.version_title"
	s.render(w, r, rq, http.StatusOK, "registry_version", vv)
}

func (s *Server) pageConsoleMethodologies(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	rows, ok := s.listVersions(w, r, rq, "")
	if !ok {
		return
	}
	v := &registryView{uiPage: uiPage{TitleKey: "console.methodologies.title", Nav: "methodologies", Console: true, Flash: flashOf(r)}, Versions: rows, Quorum: s.Methodologies.Quorum()}
	s.render(w, r, rq, http.StatusOK, "console_methodologies", v)
}

func (s *Server) pageConsoleMethodology(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	vv, ok := s.loadVersion(w, r, rq)
	if !ok {
		return
	}
	vv.TitleKey, vv.Nav, vv.Console, vv.Flash = "console.methodology.title", "methodologies", true, flashOf(r)
	vv.Admin = rq.console.Kind == kindAdmin
	vv.Reviewer = rq.console.Kind == kindReviewer
	// Test vectors run on the stored document against the stored factors.
	factors, err := s.Methodologies.Factors(r.Context())
	if err == nil {
		var lib *methodology.Factors
		if lib, err = methodology.NewFactors(factors); err == nil {
			var m *methodology.Methodology
			if m, err = methodology.Load(vv.V.ID+"@"+vv.V.Version, vv.V.Document, lib); err == nil {
				vv.Vectors = m.RunVectors(nil)
			}
		}
	}
	if err != nil {
		vv.VectorErr = oc.ErrorMessage(err)
	}
	s.addDiff(r, vv)
	s.render(w, r, rq, http.StatusOK, "console_methodology", vv)
}

// addDiff compares the version's document with the one it supersedes, or
// else the newest earlier version of the same methodology.
func (s *Server) addDiff(r *http.Request, vv *versionView) {
	prev := vv.V.Supersedes
	if prev == "" {
		list, err := s.Methodologies.List(r.Context(), "")
		if err != nil {
			return
		}
		for _, o := range list {
			if o.ID == vv.V.ID && o.Version != vv.V.Version && o.CreatedAt.Before(vv.V.CreatedAt) {
				prev = o.Version
			}
		}
	}
	if prev == "" {
		return
	}
	old, err := s.Methodologies.Get(r.Context(), vv.V.ID, prev)
	if err != nil {
		return
	}
	vv.DiffFrom = prev
	vv.Diff = lineDiff(prettyJSON(old.Document), prettyJSON(vv.V.Document))
}

func prettyJSON(b []byte) []string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return strings.Split(string(b), "\n")
	}
	return strings.Split(out.String(), "\n")
}

// pageConsoleMethodologyAction records a review or moves the lifecycle:
// review (approve/reject with comment), approve, suspend, reinstate.
func (s *Server) pageConsoleMethodologyAction(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if s.Methodologies == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	var actor *methodology.Reviewer // nil: the admin
	if rq.console.Kind == kindReviewer {
		rv, err := s.Methodologies.FindReviewerByID(r.Context(), rq.console.Subject)
		if err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
		actor = rv
	}
	ctx, id, ver := r.Context(), r.PathValue("id"), r.PathValue("version")
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	var err error
	switch r.PathValue("action") {
	case "review":
		if actor == nil {
			err = oc.Errorf(oc.EForbidden, "the admin does not review; reviewers do")
		} else {
			err = s.Methodologies.Review(ctx, actor, id, ver, r.PostForm.Get("decision"), comment)
		}
	case "approve":
		err = s.Methodologies.Approve(ctx, actor, id, ver, time.Time{})
	case "suspend":
		if comment == "" {
			err = oc.Errorf(oc.EInvalid, "suspending needs a comment")
		} else {
			err = s.Methodologies.Suspend(ctx, actor, id, ver, comment)
		}
	case "reinstate":
		err = s.Methodologies.Reinstate(ctx, actor, id, ver, comment)
	default:
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/console/methodologies/"+id+"/"+ver+"?done=flash.method_"+r.PathValue("action"))
}

type factorsView struct {
	uiPage
	Factors []methodology.Factor
}

func (s *Server) pageConsoleFactors(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if s.Methodologies == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	fs, err := s.Methodologies.Factors(r.Context())
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	s.render(w, r, rq, http.StatusOK, "console_factors", &factorsView{uiPage: uiPage{TitleKey: "console.factors.title", Nav: "factors", Console: true}, Factors: fs})
}
