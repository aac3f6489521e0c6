from modelyard_deploy.main import main

main()
