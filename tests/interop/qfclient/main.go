// pp-qfclient: a QuickFIX/Go initiator driven over stdin/stdout, so pytest can
// put a FIX engine that powerpeg did not write in front of its exchange.
//
// Flags give the session settings a firm would put in its QuickFIX config
// (SenderCompID, TargetCompID, ResetOnLogon, FileStorePath, HeartBtInt...).
// Commands arrive on stdin as JSON lines:
//
//	{"cmd":"send","msgtype":"D","fields":[[11,"C1"],[55,"AAPL"],...]}
//	{"cmd":"stop"}        graceful Logout and exit
//
// Everything the engine sees goes to stdout as JSON lines:
//
//	{"ev":"logon"} {"ev":"logout"} {"ev":"from_app","raw":"8=FIX.4.4|..."}
//	{"ev":"from_admin","raw":...} {"ev":"to_admin","raw":...} {"ev":"sent","msgtype":"D"}
//	{"ev":"error","text":...}
//
// Raw messages use '|' for SOH. The engine keeps its own file store: its
// sequence numbers and the messages it sent survive a restart of this process,
// which is how the tests make a second logon of the day.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/quickfixgo/quickfix"
	"github.com/quickfixgo/quickfix/config"
	"github.com/quickfixgo/quickfix/log/screen"
	"github.com/quickfixgo/quickfix/store/file"
)

type out struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *out) emit(ev map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(ev)
}

func raw(m *quickfix.Message) string { return strings.ReplaceAll(m.String(), "\x01", "|") }

type app struct {
	o        *out
	username string
	password string
}

func (a *app) OnCreate(quickfix.SessionID) {}
func (a *app) OnLogon(quickfix.SessionID)  { a.o.emit(map[string]any{"ev": "logon"}) }
func (a *app) OnLogout(quickfix.SessionID) { a.o.emit(map[string]any{"ev": "logout"}) }
func (a *app) ToAdmin(m *quickfix.Message, _ quickfix.SessionID) {
	if t, err := m.MsgType(); err == nil && t == "A" && a.username != "" {
		m.Body.SetString(quickfix.Tag(553), a.username)
		m.Body.SetString(quickfix.Tag(554), a.password)
	}
	a.o.emit(map[string]any{"ev": "to_admin", "raw": raw(m)})
}
func (a *app) ToApp(m *quickfix.Message, _ quickfix.SessionID) error { return nil }
func (a *app) FromAdmin(m *quickfix.Message, _ quickfix.SessionID) quickfix.MessageRejectError {
	a.o.emit(map[string]any{"ev": "from_admin", "raw": raw(m)})
	return nil
}
func (a *app) FromApp(m *quickfix.Message, _ quickfix.SessionID) quickfix.MessageRejectError {
	a.o.emit(map[string]any{"ev": "from_app", "raw": raw(m)})
	return nil
}

type command struct {
	Cmd     string       `json:"cmd"`
	MsgType string       `json:"msgtype"`
	Fields  [][2]any     `json:"fields"`
}

func main() {
	host := flag.String("host", "127.0.0.1", "exchange host")
	port := flag.Int("port", 0, "exchange FIX port")
	sender := flag.String("sender", "", "SenderCompID")
	target := flag.String("target", "EXCH", "TargetCompID")
	reset := flag.String("reset-on-logon", "N", "ResetOnLogon (Y/N)")
	store := flag.String("store", "", "FileStorePath (the engine's message store)")
	hb := flag.Int("heartbeat", 30, "HeartBtInt (s)")
	reconnect := flag.Int("reconnect", 1, "ReconnectInterval (s)")
	username := flag.String("username", "", "Username(553) on Logon")
	password := flag.String("password", "", "Password(554) on Logon")
	debug := flag.Bool("debug", false, "print the engine's session log (not JSON: for a person)")
	flag.Parse()
	o := &out{enc: json.NewEncoder(os.Stdout)}
	if *port == 0 || *sender == "" || *store == "" {
		fmt.Fprintln(os.Stderr, "pp-qfclient: -port, -sender and -store are required")
		os.Exit(2)
	}

	settings := quickfix.NewSettings()
	s := quickfix.NewSessionSettings()
	s.Set(config.BeginString, "FIX.4.4")
	s.Set(config.SenderCompID, *sender)
	s.Set(config.TargetCompID, *target)
	s.Set(config.SocketConnectHost, *host)
	s.Set(config.SocketConnectPort, strconv.Itoa(*port))
	s.Set(config.HeartBtInt, strconv.Itoa(*hb))
	s.Set(config.ResetOnLogon, *reset)
	s.Set(config.FileStorePath, *store)
	s.Set(config.ReconnectInterval, strconv.Itoa(*reconnect))
	sessionID, err := settings.AddSession(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pp-qfclient:", err)
		os.Exit(2)
	}
	logs := quickfix.NewNullLogFactory()
	if *debug {
		logs = screen.NewLogFactory() // the engine's own session log, on stdout (not JSON)
	}
	initiator, err := quickfix.NewInitiator(&app{o: o, username: *username, password: *password},
		file.NewStoreFactory(settings), settings, logs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pp-qfclient:", err)
		os.Exit(2)
	}
	if err := initiator.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pp-qfclient:", err)
		os.Exit(2)
	}
	defer initiator.Stop()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			o.emit(map[string]any{"ev": "error", "text": "bad command: " + err.Error()})
			continue
		}
		switch c.Cmd {
		case "send":
			m := quickfix.NewMessage()
			m.Header.SetString(quickfix.Tag(35), c.MsgType)
			for _, f := range c.Fields {
				tag, ok := f[0].(float64)
				if !ok {
					o.emit(map[string]any{"ev": "error", "text": fmt.Sprintf("bad tag %v", f[0])})
					continue
				}
				m.Body.SetString(quickfix.Tag(int(tag)), fmt.Sprint(f[1]))
			}
			if err := quickfix.SendToTarget(m, sessionID); err != nil {
				o.emit(map[string]any{"ev": "error", "text": err.Error()})
			} else {
				o.emit(map[string]any{"ev": "sent", "msgtype": c.MsgType})
			}
		case "stop":
			initiator.Stop()
			o.emit(map[string]any{"ev": "stopped"})
			return
		default:
			o.emit(map[string]any{"ev": "error", "text": "unknown command " + c.Cmd})
		}
	}
}
