//! The chat page: the files of `web/`, embedded in the binary so that one
//! file runs anywhere, or read from disk on every request while the page is
//! being developed (`wenshu serve --web-dir web`).

use std::path::PathBuf;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// One file of the page.
struct Asset {
    /// The path under `web/`, which is also the URL path under `/`.
    path: &'static str,
    content_type: &'static str,
    embedded: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            embedded: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

/// Every file the page is made of. A file added to `web/` is served only
/// once it is listed here.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!(
        "vendor/echarts/echarts.min.js",
        "text/javascript; charset=utf-8"
    ),
];

/// Every request the page makes goes to this server: scripts, styles,
/// images and API calls alike. ECharts sets inline styles on its elements,
/// so inline styles are allowed; inline scripts are not.
const CONTENT_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The source of the page's files.
#[derive(Debug, Clone, Default)]
pub enum WebAssets {
    /// The copies compiled into the binary.
    #[default]
    Embedded,
    /// The files in this folder, read on every request.
    Folder(PathBuf),
}

impl WebAssets {
    /// Returns the bytes of `path`, or None when it is not a page file.
    fn read(&self, asset: &Asset) -> std::io::Result<Vec<u8>> {
        match self {
            WebAssets::Embedded => Ok(asset.embedded.to_vec()),
            WebAssets::Folder(folder) => std::fs::read(folder.join(asset.path)),
        }
    }

    /// Checks that a folder has every page file.
    pub fn check(&self) -> Result<(), String> {
        let WebAssets::Folder(folder) = self else {
            return Ok(());
        };
        let missing: Vec<&str> = ASSETS
            .iter()
            .map(|asset| asset.path)
            .filter(|path| !folder.join(path).is_file())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the web folder `{}` lacks {}",
                folder.display(),
                missing.join(", ")
            ))
        }
    }
}

/// Serves `/` as `index.html` and each listed file at its own path. Any
/// other path is a 404, so no request can read a file outside the list.
pub async fn page(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == path) else {
        return Err(ApiError::NotFound(uri.path().to_owned()));
    };
    let bytes = state.web_assets().read(asset).map_err(|error| {
        ApiError::Internal(format!(
            "cannot read the page file `{}`: {error}",
            asset.path
        ))
    })?;

    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // The vendored library changes only with a new build; the page's own
    // files are checked on every load so that an update shows at once.
    let caching =
        if asset.path.starts_with("vendor/") && matches!(state.web_assets(), WebAssets::Embedded) {
            "public, max-age=86400"
        } else {
            "no-cache"
        };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(caching));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type.starts_with("text/html") {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_POLICY),
        );
        headers.insert(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        );
    }
    Ok(response)
}

/// Lists the URL paths of the page's files, for the router.
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded() {
        for asset in ASSETS {
            assert!(!asset.embedded.is_empty(), "{} is empty", asset.path);
        }
    }

    #[test]
    fn folder_check_names_missing_files() {
        let folder = tempfile::tempdir().unwrap();
        let error = WebAssets::Folder(folder.path().to_owned())
            .check()
            .unwrap_err();

        assert!(error.contains("index.html"), "{error}");
        assert!(error.contains("vendor/echarts/echarts.min.js"), "{error}");
    }
}
