// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk, streamable HTTP transport)
// with an OAuthClientProvider of its own, for tests/superset/test_client_matrix_sessions.py.
//
//   node step_up.mjs <MCP URL> <tool> <arguments as JSON>
//
// Connects (the SDK discovers, registers and asks for a sign-in), calls get_instance_info, then
// <tool>. Every authorization URL the SDK wants opened is printed as {"event": "authorize"};
// the Python test drives Chromium through it, and the redirect lands on this script's loopback
// listener. One JSON line per event on stdout; the last is {"event": "done"}.
//
// SDK 1.32.2 refreshes before it re-authorizes when it holds a refresh token (auth.js, authInternal),
// so on a 403 insufficient_scope it gets the same scope back and gives up with "Server returned
// 403 after trying upscoping" (modelcontextprotocol/typescript-sdk #2255). The first call of
// <tool> shows that as it is. Then this provider, told of the 403 by the transport's fetch, hands
// the SDK no refresh token until the new tokens are saved: the SDK's own step-up then runs (its
// 403 handler, the challenge's scope, the authorization request, the retry).
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [mcpUrl, tool, argumentsJson] = process.argv.slice(2);
const emit = event => process.stdout.write(JSON.stringify(event) + '\n');

// The loopback redirect URI (RFC 8252): each callback's query, in order.
const callbacks = [];
const waiting = [];
const listener = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
        response.writeHead(404).end();
        return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end('Signed in. You can close this window.');
    const next = waiting.shift();
    if (next) next(url.searchParams);
    else callbacks.push(url.searchParams);
});
await new Promise(resolve => listener.listen(0, '127.0.0.1', resolve));
const redirectUrl = `http://127.0.0.1:${listener.address().port}/callback`;
const nextCallback = () => callbacks.length ? Promise.resolve(callbacks.shift()) : new Promise(r => waiting.push(r));

class MemoryProvider {
    constructor() {
        this.stored = undefined;
        this.client = undefined;
        this.verifier = undefined;
        this.stepUpPending = false;
        this.workAroundRefreshFirst = false;
        this.scopesAsked = [];
    }
    get redirectUrl() { return redirectUrl; }
    get clientMetadata() {
        return {
            client_name: 'superset-mcp-jwt TypeScript SDK test client',
            redirect_uris: [redirectUrl],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
        };
    }
    clientInformation() { return this.client; }
    saveClientInformation(info) { this.client = info; }
    tokens() {
        if (this.stepUpPending && this.stored) {
            const { refresh_token, ...withoutRefresh } = this.stored;
            return withoutRefresh;
        }
        return this.stored;
    }
    saveTokens(tokens) {
        this.stored = tokens;
        this.stepUpPending = false;
    }
    redirectToAuthorization(url) {
        this.scopesAsked.push(url.searchParams.get('scope'));
        emit({ event: 'authorize', url: url.href });
    }
    saveCodeVerifier(verifier) { this.verifier = verifier; }
    codeVerifier() { return this.verifier; }
}

const provider = new MemoryProvider();
const watchingFetch = async (url, init) => {
    const response = await fetch(url, init);
    const challenge = response.headers.get('www-authenticate') || '';
    if (response.status === 403 && challenge.includes('insufficient_scope')) {
        emit({ event: 'forbidden', challenge });
        if (provider.workAroundRefreshFirst) provider.stepUpPending = true;
    }
    return response;
};
const newTransport = () => new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: watchingFetch });
let transport = newTransport();
let client = new Client({ name: 'superset-mcp-jwt-ts-test', version: '0' });

// The first sign-in: connect() fails with UnauthorizedError once the SDK has sent the user away;
// with the code, a new transport and client connect (as the SDK's own examples do).
async function connect() {
    try {
        await client.connect(transport);
    } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error;
        const query = await nextCallback();
        await transport.finishAuth(query.get('code'));
        transport = newTransport();
        client = new Client({ name: 'superset-mcp-jwt-ts-test', version: '0' });
        await client.connect(transport);
    }
}

// Runs `operation`; when the SDK asked for a sign-in, finishes it with the code and runs it again.
async function signedIn(operation) {
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            return await operation();
        } catch (error) {
            if (!(error instanceof UnauthorizedError)) throw error;
            const query = await nextCallback();
            if (!query.get('code')) throw new Error(`authorization refused: ${query.get('error')}`);
            await transport.finishAuth(query.get('code'));
        }
    }
    throw new Error('still not authorized after three sign-ins');
}

const text = result => result.content.map(part => part.text || '').join('');
const call = async (name, args) => {
    const result = await signedIn(() => client.callTool({ name, arguments: args }));
    emit({ event: 'result', tool: name, isError: Boolean(result.isError), text: text(result) });
};

try {
    await connect();
    await call('get_instance_info', {});
    try {
        await call(tool, JSON.parse(argumentsJson));
    } catch (error) {
        emit({ event: 'gave-up', message: String(error.message || error) });
    }
    await call('get_instance_info', {});  // a success resets the transport's step-up loop guard
    provider.workAroundRefreshFirst = true;
    await call(tool, JSON.parse(argumentsJson));
    emit({ event: 'done', scopesAsked: provider.scopesAsked, scope: provider.stored?.scope });
} catch (error) {
    emit({ event: 'error', message: String(error.stack || error) });
    process.exitCode = 1;
} finally {
    await client.close().catch(() => {});
    listener.close();
}
