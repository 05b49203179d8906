package bench.caller.client;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Netty's HTTP client codec on one keep-alive channel per user, all channels on one shared
 * event loop thread (epoll when available); the user thread writes and waits for the reply's
 * future. A candidate measured in README.md.
 */
public final class NettyHttpClient implements Client {
    private static final int MAX_BODY = 16 * 1024 * 1024 + 64 * 1024;
    private static EventLoopGroup group;

    private final String host;
    private final int port;
    private final long timeoutMs;
    private final FullHttpRequest request;
    private Channel channel;
    private volatile CompletableFuture<FullHttpResponse> pending;

    private static synchronized EventLoopGroup group() {
        if (group == null) {
            group = Epoll.isAvailable() ? new EpollEventLoopGroup(1) : new NioEventLoopGroup(1);
        }
        return group;
    }

    public NettyHttpClient(String host, int port, Request r, double timeoutS) {
        this.host = host;
        this.port = port;
        this.timeoutMs = Math.max(1, Math.round(timeoutS * 1000));
        ByteBuf body = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(r.body()));
        request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/" + r.op(), body);
        request.headers().set(HttpHeaderNames.HOST, host + ":" + port)
                .set(HttpHeaderNames.CONTENT_TYPE, r.op().equals("diff") ? "application/json"
                        : "application/octet-stream")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, r.body().length);
    }

    private Channel connect() throws InterruptedException, CallException {
        EventLoopGroup g = group();
        Bootstrap b = new Bootstrap().group(g)
                .channel(g instanceof EpollEventLoopGroup ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeoutMs)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(MAX_BODY),
                                new SimpleChannelInboundHandler<FullHttpResponse>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse msg) {
                                        CompletableFuture<FullHttpResponse> f = pending;
                                        if (f != null) {
                                            f.complete(msg.retain());
                                        }
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        CompletableFuture<FullHttpResponse> f = pending;
                                        if (f != null) {
                                            f.completeExceptionally(cause);
                                        }
                                        ctx.close();
                                    }

                                    @Override
                                    public void channelInactive(ChannelHandlerContext ctx) {
                                        CompletableFuture<FullHttpResponse> f = pending;
                                        if (f != null) {
                                            f.completeExceptionally(new java.io.IOException("connection closed"));
                                        }
                                    }
                                });
                    }
                });
        io.netty.channel.ChannelFuture cf = b.connect(host, port).await();
        if (!cf.isSuccess()) {
            throw new CallException("http: cannot connect to " + host + ":" + port + ": " + cf.cause(), cf.cause());
        }
        return cf.channel();
    }

    @Override
    public CallReply call() throws CallException {
        try {
            if (channel == null || !channel.isActive()) {
                channel = connect();
            }
            CompletableFuture<FullHttpResponse> f = new CompletableFuture<>();
            pending = f;
            channel.writeAndFlush(request.retainedDuplicate());
            FullHttpResponse resp = f.get(timeoutMs, TimeUnit.MILLISECONDS);
            try {
                byte[] body = ByteBufUtil.getBytes(resp.content());
                int code = resp.status().code();
                return code == 200 ? CallReply.ok(body) : CallReply.error(body, String.valueOf(code));
            } finally {
                resp.release();
            }
        } catch (TimeoutException e) {
            close();
            throw new CallException("http: no reply from " + host + ":" + port + " within " + timeoutMs + " ms", e);
        } catch (ExecutionException e) {
            close();
            throw new CallException("http: " + host + ":" + port + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CallException("http: interrupted", e);
        } finally {
            pending = null;
        }
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close();
            channel = null;
        }
    }
}
