//! Every route of both listeners, in one table ([`table`]): the routers are built from it and
//! nothing else, and the OpenAPI test checks it against the generated document, so a route
//! cannot be served without being documented (nor documented without being served), nor
//! served without a verified caller unless the table says it is open (ADR 0014).

use crate::problem::Problem;
use crate::{
    Services, adapters, auth, booking, devices, health, lanes, layers, openapi, verifications,
};
use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{MethodFilter, MethodRouter, on};

/// Which listener serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The public API: TLS, or plain behind a terminating proxy.
    Public,
    /// The admin API: plain HTTP, loopback unless a token is set.
    Admin,
    /// The device push listener: plain HTTP for cameras; a push is accepted only from its
    /// device's provisioned address (issue 13).
    DevicePush,
}

pub(crate) const PUBLIC: &[Surface] = &[Surface::Public];
pub(crate) const ADMIN: &[Surface] = &[Surface::Admin];
pub(crate) const BOTH: &[Surface] = &[Surface::Public, Surface::Admin];
pub(crate) const DEVICE_PUSH: &[Surface] = &[Surface::DevicePush];

/// One row of the table.
#[derive(Debug)]
pub struct Route<S> {
    pub surfaces: &'static [Surface],
    pub method: Method,
    /// The template, as axum matches it and OpenAPI writes it: `/v1/bookings/{id}`.
    pub path: &'static str,
    /// On the public listener: whether a verified caller is required (every route but
    /// health and this API's description).
    pub needs_caller: bool,
    pub(crate) endpoint: MethodRouter<S>,
}

impl<S> Route<S> {
    /// A route anyone may call: health and the API's description.
    pub(crate) fn open(mut self) -> Self {
        self.needs_caller = false;
        self
    }
}

/// A row; the handler answers `method` on `path` and nothing else.
pub(crate) fn route<S, H, T>(
    surfaces: &'static [Surface],
    method: Method,
    path: &'static str,
    handler: H,
) -> Route<S>
where
    S: Clone + Send + Sync + 'static,
    H: Handler<T, S>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
    Route {
        surfaces,
        method,
        path,
        needs_caller: surfaces.contains(&Surface::Public),
        endpoint: on(filter, handler),
    }
}

/// Every route the gateway serves.
pub fn table() -> Vec<Route<Services>> {
    use Method as M;
    let mut rows = vec![
        route(PUBLIC, M::POST, "/v1/verifications", verifications::create),
        route(PUBLIC, M::GET, "/v1/verifications/{id}", verifications::get),
        route(BOTH, M::GET, "/healthz", health::live).open(),
        route(BOTH, M::GET, "/readyz", health::ready).open(),
        route(PUBLIC, M::GET, "/openapi.json", openapi::serve).open(),
        route(ADMIN, M::GET, "/admin/adapters", adapters::list),
        route(ADMIN, M::POST, "/admin/adapters/reload", adapters::reload),
        route(
            ADMIN,
            M::POST,
            "/admin/adapters/rollback",
            adapters::rollback,
        ),
        route(
            ADMIN,
            M::POST,
            "/admin/adapters/{id}/check",
            adapters::trial,
        ),
        route(ADMIN, M::GET, "/metrics", adapters::metrics),
        route(ADMIN, M::GET, "/admin/devices", devices::list),
        route(ADMIN, M::GET, "/admin/devices/{id}", devices::get),
        route(ADMIN, M::GET, "/admin/lanes", lanes::list),
        route(DEVICE_PUSH, M::POST, "/devices/{id}/push", lanes::push),
    ];
    rows.extend(booking::routes());
    rows
}

/// The routers of the listeners, by surface.
#[derive(Debug, Clone)]
pub struct Routers {
    pub public: Router,
    pub admin: Router,
    pub device_push: Router,
}

/// The routers of the listeners, each with the shared layers; on the public one every route
/// but the open ones verifies its caller, the admin one checks the admin token, the device
/// push one checks the pushing device's address (in its handler).
pub fn routers(services: &Services) -> Routers {
    let rows = |surface: Surface| {
        table()
            .into_iter()
            .filter(move |row| row.surfaces.contains(&surface))
    };
    let caller = axum::middleware::from_fn_with_state(services.auth.clone(), auth::require_caller);
    let public = router(rows(Surface::Public).map(|mut row| {
        if row.needs_caller {
            row.endpoint = row.endpoint.route_layer(caller.clone());
        }
        row
    }));
    let admin = layers::admin_token(router(rows(Surface::Admin)), services);
    let device_push = router(rows(Surface::DevicePush));
    Routers {
        public: layers::shared(public.with_state(services.clone()), &services.metrics),
        admin: layers::shared(admin.with_state(services.clone()), &services.metrics),
        device_push: layers::shared(device_push.with_state(services.clone()), &services.metrics),
    }
}

/// A router of these rows. Anything else, a known path with another method included, is a
/// 404 problem, as it was before axum (which would say 405).
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    rows: impl IntoIterator<Item = Route<S>>,
) -> Router<S> {
    rows.into_iter()
        .fold(Router::new(), |router, row| {
            router.route(row.path, row.endpoint)
        })
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
}

async fn no_route(method: Method, uri: Uri) -> Problem {
    Problem::no_route(&method, uri.path())
}
