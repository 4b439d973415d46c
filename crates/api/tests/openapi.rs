//! The OpenAPI document is part of the contract operators script against:
//! any change to it shows up here as a snapshot diff to review.

#[test]
fn openapi_document_snapshot() {
    insta::assert_json_snapshot!("openapi", tollgate_api::openapi());
}
