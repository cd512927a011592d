package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/store"
)

// adminEnv is what the admin commands work on: the server's store and master key.
type adminEnv struct {
	cfg config.Server
}

func (e *adminEnv) addFlags(cmd *cobra.Command) {
	e.cfg = config.DefaultServer()
	config.AddFlags(cmd.PersistentFlags(), &e.cfg, "data", "database", "master_key_file")
}

func (e *adminEnv) open(cmd *cobra.Command) (store.Store, *secrets.Box, error) {
	if err := config.Load(&e.cfg, cmd.Flags(), os.Environ()); err != nil {
		return nil, nil, err
	}
	if err := e.cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if e.cfg.Database == "" {
		if _, err := os.Stat(e.cfg.Data); err != nil {
			return nil, nil, fmt.Errorf("data directory %s: %w (start `vigil server --data %s` once, or pass --data)", e.cfg.Data, err, e.cfg.Data)
		}
	}
	box, _, err := app.OpenBox(e.cfg, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	st, err := app.OpenStore(cmd.Context(), e.cfg)
	if err != nil {
		return nil, nil, err
	}
	return st, box, nil
}

func accountByName(ctx context.Context, st store.Store, name string) (store.Account, error) {
	a, err := st.GetAccountByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("no account named %q (see `vigil accounts list`)", name)
	}
	return a, err
}

func newKeysCmd() *cobra.Command {
	env := &adminEnv{}
	cmd := &cobra.Command{Use: "keys", Short: "Manage API keys (SecretId/SecretKey) of the server's accounts"}
	env.addFlags(cmd)

	var account, role, desc string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print its SecretKey (shown only this once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := store.KeyRole(role)
			if r != store.RoleAdmin && r != store.RoleReadOnly {
				return fmt.Errorf("--role must be admin or readonly")
			}
			st, box, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := accountByName(cmd.Context(), st, account)
			if err != nil {
				return err
			}
			k, secret, err := app.CreateKey(cmd.Context(), st, box, a.ID, r, desc)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "SecretId=%s\nSecretKey=%s\nAccount=%s\nRole=%s\n", k.SecretID, secret, a.Name, k.Role)
			return nil
		},
	}
	create.Flags().StringVar(&account, "account", app.DefaultAccount, "account the key belongs to")
	create.Flags().StringVar(&role, "role", string(store.RoleAdmin), "admin (every action) or readonly (Describe*/Export*)")
	create.Flags().StringVar(&desc, "description", "", "free text shown by `keys list`")

	var listAccount string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys of an account (never their SecretKeys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := accountByName(cmd.Context(), st, listAccount)
			if err != nil {
				return err
			}
			keys, err := st.ListAPIKeys(cmd.Context(), a.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SECRET ID\tROLE\tSTATUS\tCREATED\tLAST USED\tDESCRIPTION")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.SecretID, k.Role, k.Status, fmtTime(k.CreatedAt), fmtTime(k.LastUsedAt), k.Description)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listAccount, "account", app.DefaultAccount, "account whose keys to list")

	setStatus := func(use, short string, status store.KeyStatus) *cobra.Command {
		var acct string
		c := &cobra.Command{
			Use:   use + " SECRET_ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				st, _, err := env.open(cmd)
				if err != nil {
					return err
				}
				defer st.Close()
				a, err := accountByName(cmd.Context(), st, acct)
				if err != nil {
					return err
				}
				if err := st.SetAPIKeyStatus(cmd.Context(), a.ID, args[0], status); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("account %s has no key %s", a.Name, args[0])
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", args[0], status)
				return nil
			},
		}
		c.Flags().StringVar(&acct, "account", app.DefaultAccount, "account the key belongs to")
		return c
	}
	cmd.AddCommand(create, list,
		setStatus("disable", "Disable a key (servers stop accepting it within 5 s)", store.KeyDisabled),
		setStatus("enable", "Enable a disabled key", store.KeyEnabled))
	return cmd
}

func newAccountsCmd() *cobra.Command {
	env := &adminEnv{}
	cmd := &cobra.Command{Use: "accounts", Short: "Manage accounts (tenants: each has its own hosts, images and events)"}
	env.addFlags(cmd)
	var noKey bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an account and an admin key for it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, box, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.CreateAccount(cmd.Context(), args[0])
			if err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("an account named %q exists already", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Account=%s\nAccountId=%d\n", a.Name, a.ID)
			if noKey {
				return nil
			}
			k, secret, err := app.CreateKey(cmd.Context(), st, box, a.ID, store.RoleAdmin, "created with the account")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "SecretId=%s\nSecretKey=%s\n", k.SecretID, secret)
			return nil
		},
	}
	create.Flags().BoolVar(&noKey, "no-key", false, "do not create an admin key for the account")
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			accts, err := st.ListAccounts(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED")
			for _, a := range accts {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", a.ID, a.Name, fmtTime(a.CreatedAt))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
