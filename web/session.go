package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// Me is the signed-in user with what the UI needs to shape itself: the
// role's permissions and the bound unit (null for a register-wide admin).
type Me struct {
	fleet.User
	Permissions []fleet.Permission `json:"permissions"`
	Unit        *fleet.Unit        `json:"unit"`
}

func (s *Server) meOf(ctx context.Context, u fleet.User) (Me, error) {
	m := Me{User: u, Permissions: u.Role.Permissions()}
	if u.UnitID != "" {
		unit, err := s.reg.Unit(ctx, u, u.UnitID)
		if err != nil {
			return Me{}, err
		}
		m.Unit = &unit
	}
	return m, nil
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token string `json:"token"`
	User  Me     `json:"user"`
}

func (s *Server) login(c *gin.Context) {
	var in loginRequest
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	release, err := s.loginSlot(c.Request.Context())
	if err != nil {
		WriteError(c, err)
		return
	}
	token, u, err := s.reg.Login(c.Request.Context(), in.Username, in.Password)
	release()
	if err != nil {
		WriteError(c, err)
		return
	}
	me, err := s.meOf(c.Request.Context(), u)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, loginResponse{Token: token, User: me})
}

// loginSlot waits for a free password-check slot; release gives it back.
func (s *Server) loginSlot(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(s.cfg.LoginWait)
	defer t.Stop()
	select {
	case s.logins <- struct{}{}:
		return func() { <-s.logins }, nil
	case <-t.C:
		return nil, fleet.Errorf(fleet.EUNAVAILABLE, "too many sign-ins at once; try again in a moment")
	case <-ctx.Done():
		return nil, fleet.Errorf(fleet.EUNAVAILABLE, "sign-in abandoned")
	}
}

func (s *Server) logout(c *gin.Context) {
	if err := s.reg.Logout(c.Request.Context(), c.GetString(ctxToken)); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	me, err := s.meOf(c.Request.Context(), Actor(c))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, me)
}

type passwordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (s *Server) changePassword(c *gin.Context) {
	var in passwordRequest
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	err := s.reg.ChangePassword(c.Request.Context(), Actor(c), in.OldPassword, in.NewPassword)
	if isCode(err, fleet.EINVALID) && fleet.ErrorField(err) == "password" {
		// The register names its own field; this endpoint calls it new_password.
		err = fleet.Invalid("new_password", "%s", fleet.ErrorMessage(err))
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
