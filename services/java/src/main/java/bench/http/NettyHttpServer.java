package bench.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.net.InetSocketAddress;
import java.util.logging.Logger;

/**
 * A candidate measured in README.md: Netty 4 with native epoll, {@code threads} event loops,
 * each running the ops inline. Keep-alive per HTTP/1.1 rules.
 */
public final class NettyHttpServer implements HttpTransport {
    private static final Logger LOG = Logger.getLogger(NettyHttpServer.class.getName());

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Channel channel;

    public NettyHttpServer(HttpRoutes routes, String host, int port, int threads) throws InterruptedException {
        boolean epoll = Epoll.isAvailable();
        boss = epoll ? new EpollEventLoopGroup(1) : new NioEventLoopGroup(1);
        workers = epoll ? new EpollEventLoopGroup(threads) : new NioEventLoopGroup(threads);
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, workers)
                .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 2048)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(8192, 16384, 65536),
                                new HttpServerExpectContinueHandler(), new Handler(routes));
                    }
                });
        try {
            channel = b.bind(new InetSocketAddress(host, port)).sync().channel();
        } catch (RuntimeException | InterruptedException e) {
            close();
            throw e;
        }
        LOG.info("netty http listening on " + channel.localAddress() + " (" + (epoll ? "epoll" : "nio") + ", "
                + threads + " event loop(s))");
    }

    @Override
    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close().syncUninterruptibly();
        }
        boss.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** One per connection: assembles a request's body under the limit, answers it. */
    private static final class Handler extends SimpleChannelInboundHandler<HttpObject> {
        private final HttpRoutes routes;
        private HttpRoutes.Route route;
        private boolean keepAlive;
        private boolean discarding;
        private byte[] body;
        private int size;

        Handler(HttpRoutes routes) {
            this.routes = routes;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg.decoderResult().isFailure()) {
                discarding = true;
                route = null;
                send(ctx, HttpRoutes.malformed(String.valueOf(msg.decoderResult().cause())), false);
                return;
            }
            if (msg instanceof HttpRequest req) {
                keepAlive = HttpUtil.isKeepAlive(req);
                long length = HttpUtil.getContentLength(req, -1L);
                String method = req.method().name();
                String uri = req.uri();
                route = routes.route(method, uri, length);
                size = 0;
                if (route == null) {
                    HttpRoutes.Response r = routes.reject(method, uri, length);
                    discarding = true;
                    send(ctx, r, keepAlive && !r.close());
                } else {
                    discarding = false;
                    body = length > 0 ? new byte[(int) length] : null;
                }
            }
            if (msg instanceof HttpContent content && !discarding) {
                ByteBuf buf = content.content();
                int n = buf.readableBytes();
                if (n > 0) {
                    if ((long) size + n > routes.maxBodyBytes()) {
                        discarding = true;
                        send(ctx, routes.tooLarge((long) size + n), false);
                        return;
                    }
                    if (body == null || size + n > body.length) {
                        byte[] grown = new byte[Math.max(size + n, body == null ? 8192 : Math.min(
                                routes.maxBodyBytes(), body.length * 2))];
                        if (body != null) {
                            System.arraycopy(body, 0, grown, 0, size);
                        }
                        body = grown;
                    }
                    buf.readBytes(body, size, n);
                    size += n;
                }
                if (msg instanceof LastHttpContent) {
                    byte[] full = body == null ? new byte[0] : body.length == size ? body
                            : java.util.Arrays.copyOf(body, size);
                    body = null;
                    HttpRoutes.Route r = route;
                    route = null;
                    discarding = true;
                    send(ctx, routes.run(r, full), keepAlive);
                }
            }
        }

        private static void send(ChannelHandlerContext ctx, HttpRoutes.Response r, boolean keepAlive) {
            FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(r.status()), Unpooled.wrappedBuffer(r.body()));
            res.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
            res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.body().length);
            if (r.allow() != null) {
                res.headers().set(HttpHeaderNames.ALLOW, r.allow());
            }
            if (keepAlive) {
                ctx.writeAndFlush(res, ctx.voidPromise());
            } else {
                res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.fine("connection error: " + cause);
            ctx.close();
        }
    }
}
