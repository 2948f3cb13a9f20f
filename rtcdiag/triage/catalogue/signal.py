"""Catalogue entries: signal (``rtcdiag signal``: the WebSocket signalling path, RFC 6455, through proxies).

Placeholders: ``{server}`` the URL (token values ``***``), ``{host}``/``{port}`` the URL's, ``{proxy}`` the
proxy's URL (password ``***``), ``{status}``/``{reason}`` an HTTP answer, ``{detail}`` one line of specifics.
Shared entries also made by this check: DNS-FAILURE, TLS-EXPIRING-SOON, TLS-OLD-VERSION.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_NGINX_FIX = ("In nginx, in the location that proxies the WebSocket: `proxy_http_version 1.1; "
              "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";` (HAProxy, "
              "Traefik, Caddy and the cloud load balancers pass them by default; Apache needs "
              "mod_proxy_wstunnel or `ProxyPass ... upgrade=websocket`).")

ENTRIES: tuple[CatalogueEntry, ...] = (
    # --- the TCP path ------------------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-CONNECT-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="Nothing accepts connections for {server}",
        symptom="The TCP connection to {host}:{port} was refused: {detail}.",
        cause="No web server, reverse proxy or signalling server listens on this port of this address, or a "
              "firewall rejects the connection (RST).",
        fix="Check that the signalling server (or its reverse proxy) runs and listens on {host}:{port} "
            "(on the server: `ss -lntp`), or use the URL your application really connects to.",
        reference="RFC 9293 §3.5 (RST), RFC 6455 §4.1",
    ),
    CatalogueEntry(
        id="SIGNAL-CONNECT-TIMEOUT",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="No answer from {host}:{port} ({server})",
        symptom="The TCP connection to {host}:{port} got no answer: {detail}.",
        cause="A firewall drops the traffic (this network lets nothing out but through a proxy, or the "
              "server's security group does not allow the port), or the server is down.",
        fix="If this network only lets the web out through a proxy, give it (--proxy http://HOST:PORT or "
            "HTTPS_PROXY) as browsers have it; otherwise open the port in the server's firewall / security "
            "group.",
        reference="RFC 9293 §3.8.1 (retransmission), RFC 6455 §4.1",
    ),
    CatalogueEntry(
        id="SIGNAL-NO-ROUTE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="No route to {host}:{port} from here",
        symptom="Connecting to {host}:{port} failed on this machine: {detail}.",
        cause="This machine has no route or address of that family (e.g. an IPv6 address on an IPv4-only "
              "network).",
        fix="Check this machine's network (routes, IPv6), or use a URL whose name has an address reachable "
            "from here.",
    ),
    # --- the proxy --------------------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-PROXY-UNREACHABLE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The proxy {proxy} does not accept connections",
        symptom="Connecting to the HTTP proxy {proxy} (from {source}) failed: {detail}.",
        cause="The proxy is down, its address or port is wrong, or this machine cannot reach it.",
        fix="Check the proxy settings (HTTPS_PROXY/HTTP_PROXY, the browser's or the PAC file's proxy), "
            "or run with --no-proxy if this network lets WebSockets out directly.",
        reference="RFC 9110 §9.3.6 (CONNECT)",
    ),
    CatalogueEntry(
        id="SIGNAL-PROXY-AUTH",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The proxy {proxy} wants authentication",
        symptom="CONNECT {host}:{port} got 407 {reason}; Proxy-Authenticate: {challenge}.",
        cause="The proxy only opens tunnels for authenticated users. Browsers answer the challenge (a "
              "prompt, Kerberos/NTLM single sign-on); an application or this run gave no or wrong "
              "credentials.",
        fix="Give the proxy's credentials (--proxy http://USER:PASSWORD@HOST:PORT or in HTTPS_PROXY; Basic "
            "only), or have the proxy allow the signalling host without authentication.",
        reference="RFC 9110 §15.5.8 (407), §11.7.1 (Proxy-Authenticate)",
    ),
    CatalogueEntry(
        id="SIGNAL-PROXY-PORT-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The proxy opens tunnels to port {alt_port} but not to {port}",
        symptom="CONNECT {host}:{port} got {status} {reason} from {proxy}, while {evidence_443}.",
        cause="Forward proxies allow CONNECT only to the HTTPS port by default (squid: `http_access deny "
              "CONNECT !SSL_ports`, SSL_ports = 443; tinyproxy: ConnectPort 443): a signalling server on "
              "another port is unreachable from every browser behind such a proxy.",
        fix="Serve signalling on port 443 of the same host (wss://{host}/..., behind the same TLS "
            "terminator as the web app), or have the proxy admin add port {port} to SSL_ports / ConnectPort.",
        reference="RFC 9110 §9.3.6 (CONNECT: proxies restrict the ports), RFC 6455 §4.1",
    ),
    CatalogueEntry(
        id="SIGNAL-PROXY-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The proxy refuses a tunnel to {host}:{port}",
        symptom="CONNECT {host}:{port} got {status} {reason} from {proxy}{words}.",
        cause="The proxy's policy forbids this destination: the port is not one it opens tunnels to (most "
              "allow only 443), the host is not on its allow-list, or its category filter blocks it.",
        fix="{port_fix}",
        reference="RFC 9110 §9.3.6 (CONNECT), §15.5.4 (403)",
    ),
    CatalogueEntry(
        id="SIGNAL-PROXY-UPSTREAM",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The proxy could not reach {host}:{port}",
        symptom="CONNECT {host}:{port} got {status} {reason} from {proxy}{words}.",
        cause="The proxy accepted the request but could not open a connection to the server: the server is "
              "down or does not listen there, the proxy cannot resolve the name, or a firewall between the "
              "proxy and the server drops it.",
        fix="Check that the signalling server answers on {host}:{port} from the proxy's network (the "
            "proxy's error page above names the reason).",
        reference="RFC 9110 §15.6.3 (502), §15.6.4 (503), §15.6.5 (504)",
    ),
    CatalogueEntry(
        id="SIGNAL-PROXY-NOT-HTTP",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="No usable answer from the proxy {proxy}",
        symptom="CONNECT {host}:{port} through {proxy}: {detail}.",
        cause="What listens at the proxy's address is not an HTTP proxy (a SOCKS proxy, another service), or "
              "it is overloaded.",
        fix="Check the proxy's address and type: rtcdiag speaks HTTP CONNECT (http://HOST:PORT), as "
            "browsers do for HTTPS_PROXY.",
        reference="RFC 9110 §9.3.6",
    ),
    # --- TLS --------------------------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-TLS-INTERCEPTED",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        title="The proxy intercepts TLS to {host}",
        symptom="Through {proxy} the certificate of {host} is issued by {issuer}; taken directly it is "
                "issued by {direct_issuer} ({detail}).",
        cause="The proxy decrypts TLS (corporate TLS inspection: squid ssl_bump, Zscaler, Netskope, "
              "FortiGate ...) and presents a certificate of its own CA. Browsers on managed machines trust "
              "that CA; anything else (apps, containers, other browsers) rejects it, and many inspecting "
              "proxies mishandle the WebSocket upgrade or cut idle tunnels.",
        fix="Ask the proxy admins to exempt the signalling host from inspection (squid: `ssl_bump splice` "
            "for it), or make sure every client trusts the proxy's CA and the proxy passes WebSocket "
            "upgrades (squid >= 5: `http_upgrade_request_protocols websocket allow all`, in lower case: "
            "squid compares the name as browsers send it).",
        reference="RFC 5280 §6 (path validation), RFC 6455 §4.1",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-INTERCEPTED-LIKELY",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        title="The certificate of {host} seen through the proxy comes from {issuer}",
        symptom="Through {proxy} the certificate of {host} is issued by {issuer}, a TLS-inspection product; "
                "the server was not reachable directly to compare ({detail}).",
        cause="Most likely the proxy decrypts TLS (corporate TLS inspection) and presents its own CA's "
              "certificate; rtcdiag could not confirm it by taking the certificate directly.",
        fix="Compare with the certificate seen from outside this network; ask the proxy admins to exempt "
            "the signalling host from inspection.",
        reference="RFC 5280 §6",
    ),
    CatalogueEntry(
        id="SIGNAL-INSPECTION-BLOCKS-UPGRADE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The inspecting proxy does not pass the WebSocket upgrade to {host}",
        symptom="The proxy decrypts TLS to {host} (its own CA, {issuer}), and the upgrade got {status} "
                "{reason}{words}.",
        cause="An inspecting proxy parses the HTTP inside the tunnel and drops the Upgrade/Connection "
              "headers of requests it does not know how to relay (squid unless `http_upgrade_request_"
              "protocols` allows the name the browser sends), so the server sees a plain GET.",
        fix="Exempt the signalling host from inspection (squid: `ssl_bump splice` for it), or allow the "
            "upgrade (squid >= 5: `http_upgrade_request_protocols websocket allow all`, in lower case: squid "
            "compares the name as browsers send it).",
        reference="RFC 6455 §4.1, RFC 9110 §7.8 (Upgrade)",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-UNTRUSTED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The TLS certificate of {host} is not trusted",
        symptom="Certificate verification for {server} failed: {detail}.",
        cause="The certificate is self-signed or from a private CA, or the server does not send its "
              "intermediate certificates. Browsers refuse the wss: connection (the page only sees a close "
              "with code 1006).",
        fix="Serve a certificate from a public CA with the full chain (nginx: ssl_certificate "
            "fullchain.pem). To test against a private CA pass --ca FILE; --insecure goes on past it.",
        reference="RFC 5280 §6, RFC 6455 §4.1 (wss: uses TLS as HTTPS does)",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-EXPIRED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The TLS certificate of {host} has expired",
        symptom="The certificate of {server} is outside its validity period: {detail}.",
        cause="The certificate was not renewed, or the renewed one was not reloaded; or this machine's clock "
              "is wrong.",
        fix="Renew the certificate and reload the TLS terminator (nginx -s reload).",
        reference="RFC 5280 §4.1.2.5",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-HOSTNAME",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The TLS certificate does not name {host}",
        symptom="{detail}.",
        cause="The TLS terminator serves another site's certificate for this name (a missing server_name "
              "block or SNI route), or the URL uses a name or IP the certificate does not list.",
        fix="Add {host} to the certificate's subjectAltName, or serve the right certificate for this name.",
        reference="RFC 6125 §6.4",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-HANDSHAKE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="The TLS handshake with {host}:{port} failed",
        symptom="{detail}.",
        cause="The port does not speak TLS (a ws:// server behind a wss:// URL), the protocol versions or "
              "ciphers do not match, or a middlebox breaks TLS.",
        fix="Check that {host}:{port} serves TLS (`openssl s_client -connect {host_sh}:{port_sh} "
            "-servername {host_sh}`), or use ws:// if it is a cleartext port.",
        reference="RFC 8446",
    ),
    CatalogueEntry(
        id="SIGNAL-TLS-CERT-IGNORED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Certificate problem ignored for {host} (--insecure)",
        symptom="Certificate verification was off for this run (--insecure), but a browser would refuse "
                "{server}: {detail}.",
        cause="--insecure let the check go on past the certificate; browsers verify it.",
        fix="Fix the certificate (public CA, full chain, the URL's host name in it, not expired).",
        reference="RFC 5280 §6, RFC 6125 §6.4",
    ),
    # --- the upgrade ------------------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-UPGRADE-IGNORED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} answered the upgrade with {status} (no WebSocket)",
        symptom="The opening handshake got {status} {reason}{words}, not 101 Switching Protocols.",
        cause="Something answered the request itself as a plain HTTP request: a reverse proxy, CDN or web "
              "app serves this path (the request never reached the WebSocket server), or a proxy on the way "
              "dropped the Upgrade header so the server saw a normal GET.",
        fix="Route the path to the WebSocket server and pass the upgrade through. " + _NGINX_FIX + " On a "
            "CDN, enable WebSockets for this host (Cloudflare: Network > WebSockets).",
        reference="RFC 6455 §4.1 (the client fails the connection unless 101), §4.2.2",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-HEADERS-DROPPED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The WebSocket upgrade to {server} lost its Upgrade/Connection headers",
        symptom="The opening handshake got {status} {reason}{words}.",
        cause="A reverse proxy in front of the WebSocket server forwards the request without `Upgrade: "
              "websocket` and `Connection: Upgrade` (hop-by-hop headers are dropped unless configured, and "
              "nginx speaks HTTP/1.0 to the backend by default), so the server answers 400/426.",
        fix=_NGINX_FIX,
        reference="RFC 6455 §4.1, §4.2.1; RFC 9110 §7.6.1 (Connection), §7.8 (Upgrade), §15.5.22 (426)",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-FORBIDDEN",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} refused the WebSocket upgrade (403)",
        symptom="The opening handshake got 403 {reason}{words}; it was sent with Origin: {origin} and "
                "{protocol_sent}.",
        cause="The server checks the Origin header and this one is not on its list (a page of another "
              "origin, or rtcdiag's default, the signalling host itself), or it requires a subprotocol in "
              "Sec-WebSocket-Protocol that was not offered, or an authentication token.",
        fix="Run again with --origin set to your app's page origin (e.g. --origin https://app.example.com) "
            "and --subprotocol as your client offers it; on the server, add the app's origin to the allowed "
            "origins.",
        reference="RFC 6455 §4.2.2 (Origin check), §1.9 (subprotocols), §10.2",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-UNAUTHORIZED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} wants authentication ({status})",
        symptom="The opening handshake got {status} {reason}{words}.",
        cause="The server (or a reverse proxy in front of it) needs a credential this run did not give: a "
              "token in the query or a header, a cookie, HTTP authentication.",
        fix="Give the token as your client does: --token-env VAR (sent as `Authorization: Bearer`, or put "
            "{{token}} in the URL where it goes), or --header 'Cookie: ...'.",
        reference="RFC 6455 §4.1 (the client may authenticate on 401), RFC 9110 §15.5.2",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-BAD-GATEWAY",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The reverse proxy in front of {server} cannot reach the WebSocket server ({status})",
        symptom="The opening handshake got {status} {reason}{words}.",
        cause="A reverse proxy or load balancer answered: its backend (the signalling server) is down, "
              "refuses it, or answers too slowly ({status}: 502 bad gateway, 503 no backend, 504 timeout).",
        fix="Start or fix the signalling server behind the proxy and check the proxy's upstream address "
            "(nginx: proxy_pass; HAProxy: the backend's server lines and health checks).",
        reference="RFC 9110 §15.6.3-§15.6.5",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-REDIRECT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} answers the upgrade with a redirect ({status})",
        symptom="The opening handshake got {status} {reason} to {location}.",
        cause="The server redirects (http to https, a trailing slash, another host). Browsers do not follow "
              "redirects for WebSockets: the connection fails.",
        fix="Use the final URL in your app (wss://, the exact path), or serve the WebSocket at this URL. "
            "rtcdiag does not follow it either.",
        reference="RFC 6455 §4.1 (clients are not required to follow 3xx; browsers do not)",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} refused the WebSocket upgrade ({status})",
        symptom="The opening handshake got {status} {reason}{words}.",
        cause="The server does not serve a WebSocket at this path (404), or refuses this request for its own "
              "reasons (see the answer).",
        fix="Check the URL's path against the server's WebSocket route, and the answer's body for the "
            "reason.",
        reference="RFC 6455 §4.1, §4.2.2",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-INVALID",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} sent 101 but not a valid WebSocket handshake",
        symptom="{detail}.",
        cause="Something between the client and the server (or a broken server) answers 101 without the "
              "headers RFC 6455 requires; browsers fail such a connection.",
        fix="Find what answers (the Server header) and let the request reach the WebSocket server.",
        reference="RFC 6455 §4.1 (the client's checks of the server's handshake), §4.2.2",
    ),
    CatalogueEntry(
        id="SIGNAL-SUBPROTOCOL-MISSING",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} did not choose an offered subprotocol",
        symptom="Sec-WebSocket-Protocol offered: {offered}; the server answered {answered}.",
        cause="The server does not know the subprotocol the client offers (or chose one it was not "
              "offered); browsers fail the connection when a protocol was offered and none is selected.",
        fix="Offer the subprotocol the server expects (--subprotocol), or configure the server to accept "
            "it.",
        reference="RFC 6455 §4.1 item 6 of the server's handshake checks, §11.3.4",
    ),
    CatalogueEntry(
        id="SIGNAL-UPGRADE-NO-ANSWER",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="No answer to the WebSocket upgrade from {server}",
        symptom="The opening handshake: {detail}.",
        cause="The connection was accepted but nothing answered the HTTP request: the port speaks something "
              "else (TLS on a ws:// URL, another protocol), or a middlebox holds the request.",
        fix="Check the scheme (ws:// vs wss://) and port, and what listens there.",
        reference="RFC 6455 §4.1",
    ),
    # --- the open WebSocket -----------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-NO-PONG",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The WebSocket to {server} opened but carries nothing",
        symptom="After 101, a ping got no pong: {detail}.",
        cause="Every RFC 6455 endpoint answers a ping with a pong; none came back, so frames are held or "
              "dropped between here and the server (a proxy buffering the response, a broken tunnel).",
        fix="Turn off response buffering for this location in the reverse proxy (nginx: "
            "`proxy_buffering off`) and check any inspecting proxy on the way.",
        reference="RFC 6455 §5.5.2, §5.5.3",
    ),
    CatalogueEntry(
        id="SIGNAL-CLOSED-AFTER-OPEN",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="{server} closed the WebSocket right after it opened",
        symptom="The connection ended {detail} after rtcdiag's first message ({message_bytes} bytes of "
                "JSON).",
        cause="The signalling server ends connections that do not authenticate or that send a message it "
              "does not understand (1008 policy violation, 1003 unsupported data); the path itself opened. "
              "Without a close frame, something on the path cut the connection.",
        fix="If your clients connect with a token or a first message, give it (--token-env, --header); if "
            "the connection ended without a close frame, check the proxies on the way.",
        reference="RFC 6455 §7.4.1 (close codes)",
    ),
    CatalogueEntry(
        id="SIGNAL-PROTOCOL-VIOLATION",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} breaks RFC 6455",
        symptom="{detail}.",
        cause="The server (or something between) sends frames a WebSocket client must refuse: browsers "
              "close the connection with 1002.",
        fix="Update or fix the WebSocket server or the proxy that rewrites its frames.",
        reference="RFC 6455 §5, §7.4.1",
    ),
    CatalogueEntry(
        id="SIGNAL-MESSAGE-TOO-BIG",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{server} refuses a {size}-byte message",
        symptom="After a {size}-byte text message: {detail}.",
        cause="The server's message-size limit is below the size of signalling messages: an SDP offer with "
              "many candidates, or ICE restarts, is tens of KB (limits: Jetty 64 KiB, websockets 1 MiB, "
              "socket.io maxHttpBufferSize 1 MB, many gateways 32-64 KiB).",
        fix="Raise the server's maximum message size above your largest SDP (e.g. 256 KiB), or trickle "
            "candidates instead of sending them in the offer.",
        reference="RFC 6455 §7.4.1 (1009 message too big), §10.4",
    ),
    CatalogueEntry(
        id="SIGNAL-MESSAGE-CUT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="A {size}-byte message to {server} came back altered",
        symptom="{detail}.",
        cause="Something between the client and the echo server truncates or rewrites large messages.",
        fix="Check the proxies' and the server's frame and buffer limits.",
        reference="RFC 6455 §5.4 (fragmentation)",
    ),
    CatalogueEntry(
        id="SIGNAL-MESSAGE-STALLED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="A {size}-byte message to {server} stalls the connection",
        symptom="{detail}.",
        cause="The message did not get through (and nothing after it): a proxy or the server holds large "
              "frames, or a path MTU problem drops large packets while small ones pass.",
        fix="Check the proxies' buffer limits and the path MTU (ICMP fragmentation-needed filtered?).",
        reference="RFC 6455 §5.4, RFC 8899",
    ),
    CatalogueEntry(
        id="SIGNAL-IDLE-TIMEOUT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="An idle WebSocket to {server} is cut after {survived} s",
        symptom="With no traffic, the connection ended after {survived} s ({how}); the test asked for "
                "{asked} s.",
        cause="A proxy or load balancer ends idle connections (nginx proxy_read_timeout 60 s, HAProxy "
              "timeout tunnel, AWS ALB 60 s, GCP 30 s by default, Cloudflare 100 s); signalling is silent "
              "for most of a call, so the call loses its signalling mid-way.",
        fix="Send a keep-alive (a WebSocket ping or an application message) every {interval} s from the "
            "client or the server, or raise the idle timeout (nginx: proxy_read_timeout 3600s; HAProxy: "
            "timeout tunnel 1h).",
        reference="RFC 6455 §5.5.2 (ping as keep-alive)",
    ),
    CatalogueEntry(
        id="SIGNAL-IDLE-SILENT-DEATH",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="An idle WebSocket to {server} died silently within {asked} s",
        symptom="After {asked} s without traffic no close came, but a ping got no pong ({detail}).",
        cause="A NAT or firewall on the path forgot the connection while it was idle and drops its packets "
              "without telling either side.",
        fix="Send a keep-alive well inside the idle timeout of the network's NAT/firewall (every 25 s is "
            "safe for most), and detect dead connections with pings.",
        reference="RFC 6455 §5.5.2, RFC 5382 §5 (NAT TCP idle timeouts)",
    ),
    # --- security ----------------------------------------------------------------------------------------
    CatalogueEntry(
        id="SIGNAL-CLEARTEXT",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        observation=True,
        title="Signalling over cleartext ws:// ({server})",
        symptom="{server} is not encrypted.",
        cause="Anyone on the path reads and can change the signalling (SDP, ICE candidates, tokens). A page "
              "served over https: cannot open a ws:// WebSocket at all (mixed content), and proxies that "
              "only pass CONNECT to 443 block it.",
        fix="Serve the signalling over TLS (wss://, port 443) behind the same certificate as the app.",
        reference="RFC 6455 §10.7 (use wss), W3C Mixed Content §4",
    ),
    CatalogueEntry(
        id="SIGNAL-ORIGIN-NOT-CHECKED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        observation=True,
        title="{server} accepts WebSockets from any origin",
        symptom="The upgrade sent with the foreign Origin {origin} was accepted (101).",
        cause="The server does not check Origin: any web page a user visits can open a WebSocket to it with "
              "the user's cookies (cross-site WebSocket hijacking).",
        fix="Check the Origin header against your app's origins on the server, and do not authenticate "
            "WebSockets by cookies alone (use a token in the first message).",
        reference="RFC 6455 §10.2 (origin considerations), §4.2.2",
    ),
    CatalogueEntry(
        id="SIGNAL-TOKEN-IN-URL",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        observation=True,
        title="A credential travels in the URL of {server}",
        symptom="The query parameter(s) {params} look like credentials (shown as ***).",
        cause="Browsers cannot set headers on a WebSocket, so tokens often go in the query; URLs end up in "
              "the access logs of every reverse proxy that terminates TLS{cleartext}.",
        fix="Use short-lived, single-use tokens, keep them out of access logs, or send the token in the "
            "first message instead.",
        reference="RFC 6750 §5.3 (do not pass bearer tokens in URLs), RFC 6455 §10.5",
    ),
)
